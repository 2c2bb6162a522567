"""`layerloom code` on a huge graph: the source text straight from the traced fx graph, against
compiling a GraphModule first (which execs a forward of one line per node).

Builds the 9,999-block, 49,986-wire graph of the hostile-files test (Adds of 5 inputs wired to random
earlier blocks), then prints, from one run: the analysis time, `generated_code` (trace + fx's code
text, no module built, nothing exec'd), and the same text through `compile_graph(..., device="meta")`
and `GraphModule.code` as before, with the ratio. Both texts are checked equal.
Run: .venv/bin/python bench/code_generation.py [BLOCKS]      (default 9999)
"""
from __future__ import annotations

import random
import sys
import time

from layerloom.graph import analyze, compile_graph, generated_code
from layerloom.graph.compiler import _index_syntax
from layerloom.graph.fileformat import graph_from_dict


def big_graph(n: int = 9999):
    rnd = random.Random(0)
    blocks = [{"id": "input", "kind": "Input", "params": {"shape": [4]}}]
    edges = []
    for i in range(1, n - 1):
        blocks.append({"id": f"add{i}", "kind": "Add", "params": {"num_inputs": 5}})
        for port in range(5):
            edges.append({"from": blocks[rnd.randrange(i)]["id"], "to": f"add{i}", "to_port": port})
    blocks.append({"id": "output", "kind": "Output"})
    edges.append({"from": f"add{n - 2}", "to": "output"})
    return graph_from_dict({"format": "layerloom.graph", "version": 1, "name": "big", "blocks": blocks,
                            "edges": edges})


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(n: int) -> None:
    doc = big_graph(n)
    analysis, t_analysis = timed(lambda: analyze(doc))
    generated_code(doc)                                                    # warm-up (imports, caches)
    gm, t_module = timed(lambda: compile_graph(doc, analysis, weights=False, device="meta"))
    text, t_text = timed(lambda: generated_code(doc))
    forward = text.split("    def forward", 1)[1].splitlines()[1:]
    same = [line.strip() for line in forward if line.strip()] == \
        [_index_syntax(line).split(";")[0].strip() for line in gm.code.strip().splitlines()[1:] if line.strip()]
    print(f"{n:,} blocks, {len(doc.edges):,} wires, forward of {len(text.splitlines()):,} lines")
    print(f"analysis (shared by both):          {t_analysis:8.2f} s")
    print(f"generated_code (trace, text only):  {t_text:8.2f} s")
    print(f"compile_graph + GraphModule.code:   {t_module:8.2f} s   ({t_module / t_text:.1f}x the text-only path)")
    print(f"same last line of forward: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9999)
