"""Automatic layout: left to right by topological generation, long chains wrapped into rows.

Uses networkx's topological generations for columns; blocks of one generation stack in lanes,
ordered by where their inputs sit so that parallel branches (skip paths) stay on their own lane.
Rows break where the fewest groups (imported modules, `layer1`, `layer1.0`) are cut in two, so a
collapsed group's card stands for blocks of one row and leaves no hole in the next; then where the
fewest wires cross (after a residual block's Add, not inside it), so skip connections and parallel
branches stay within one row.
"""
from __future__ import annotations


from .groups import members

COLUMN = 210.0     # horizontal distance between generations
LANE = 110.0       # vertical distance between parallel blocks
ROW_GAP = 70.0     # extra space between wrapped rows


def auto_layout(doc, max_columns: int | None = None) -> dict[str, tuple[float, float]]:
    """New positions for every block (the document is not changed)."""
    return layout_plan(doc, max_columns)[0]


def layout_plan(doc, max_columns: int | None = None):
    """(positions, row band of each block): blocks flow left to right within a band."""
    import networkx as nx      # here, not at the top: the window opens before networkx has loaded
    g = nx.DiGraph()
    g.add_nodes_from(doc.blocks)
    g.add_edges_from((e.src, e.dst) for e in doc.edges)
    index = {b: i for i, b in enumerate(doc.blocks)}
    if not nx.is_directed_acyclic_graph(g):
        # Lay out by document order when wires form a cycle: still readable, never fails.
        generations = [[b] for b in doc.blocks]
    else:
        generations = [sorted(gen, key=index.__getitem__) for gen in nx.topological_generations(g)]
    if max_columns is None:
        n = len(generations)
        max_columns = n if n <= 9 else max(6, min(14, round((n * 1.6) ** 0.5 * 1.6)))

    lane: dict[str, float] = {}
    for gen in generations:
        def bary(b):
            preds = [lane[p] for p in g.predecessors(b) if p in lane]
            return (sum(preds) / len(preds) if preds else 0.0, index[b])
        ordered = sorted(gen, key=bary)
        taken: set[int] = set()
        for b in ordered:
            want = max(0, round(bary(b)[0]))
            while want in taken:
                want += 1
            taken.add(want)
            lane[b] = want

    positions: dict[str, tuple[float, float]] = {}
    bands: dict[str, int] = {}
    y0 = 0.0
    column_of = {b: i for i, gen in enumerate(generations) for b in gen}
    spans = [{column_of[b] for b in ids} for ids in members(doc).values()]
    for band_index, (start, stop) in enumerate(_rows(g, generations, max_columns, spans)):
        band = generations[start:stop]
        lanes_here = [lane[b] for gen in band for b in gen]
        low = min(lanes_here)
        for col, gen in enumerate(band):
            for b in gen:
                positions[b] = (col * COLUMN, y0 + (lane[b] - low) * LANE)
                bands[b] = band_index
        y0 += (max(lanes_here) - low + 1) * LANE + ROW_GAP
    return positions, bands


def _rows(g, generations, max_columns: int, spans=()) -> list[tuple[int, int]]:
    """Split the generations into rows of at most max_columns. The split cuts the fewest groups in two
    (`spans`: the generations each group's blocks sit in), then the fewest wires (ideally one a row:
    between residual blocks, not through a skip connection or a parallel branch), then makes the
    fewest short rows. The best split of every prefix is kept (dynamic programming)."""
    column = {b: i for i, gen in enumerate(generations) for b in gen}
    n = len(generations)
    crossing = [0] * n                      # crossing[i]: wires from generation ≤ i to one > i
    for u, v in g.edges:
        for i in range(column[u], column[v]):
            crossing[i] += 1
    cut = [0] * n                           # cut[i]: groups with blocks in generations ≤ i and > i
    for span in spans:
        for i in range(min(span), max(span)):
            cut[i] += 1
    least = max(3, max_columns // 2)
    # best[j]: (groups cut, wires cut, short rows, rows) of the best split of generations [0, j), and
    # where its last row starts
    best: list[tuple] = [((0, 0, 0, 0), 0)] + [None] * n
    for j in range(1, n + 1):
        options = []
        for k in range(max(0, j - max_columns), j):
            (groups, wires, short, rows), _ = best[k]
            if k:
                groups, wires = groups + cut[k - 1], wires + crossing[k - 1]
            options.append(((groups, wires, short + (j - k < least), rows + 1), k))
        best[j] = min(options, key=lambda o: (o[0], -o[1]))     # ties: earlier rows longer
    out, j = [], n
    while j > 0:
        k = best[j][1]
        out.append((k, j))
        j = k
    return out[::-1]


def apply_layout(doc, positions) -> None:
    for bid, pos in positions.items():
        if tuple(doc.blocks[bid].pos) != tuple(pos):
            doc.move_block(bid, pos)
