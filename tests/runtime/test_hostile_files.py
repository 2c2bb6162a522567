"""Hostile graph files through the CLI: each ends in a one-line message and exit 1 or 2, within a
memory limit, with no traceback and no hang. A mutation test runs a few hundred broken presets
(LAYERLOOM_LONG=1: thousands)."""
import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path


from layerloom.presets import preset_path

DRIVER = Path(__file__).with_name("hostile_driver.py")
MEMORY_LIMIT = 6 * 2**30          # address space; torch alone maps about 2 GB of it
MUTANTS = 2000 if os.environ.get("LAYERLOOM_LONG") else 150


def run_cli(paths, commands=("check", "summary", "code"), timeout=600):
    """The driver's records for each of `paths`; a path may be (path, commands) to run other commands on it."""
    args = [a for p in paths for a in ([f"--commands={','.join(p[1])}", p[0], f"--commands={','.join(commands)}"]
                                       if isinstance(p, tuple) else [p])]
    proc = subprocess.run([sys.executable, str(DRIVER), str(MEMORY_LIMIT), ",".join(commands), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def assert_clean(records, allowed=(0, 1, 2)):
    for r in records:
        assert r["crash"] is None, f"{r['path']} {r['command']}:\n{r['crash']}"
        assert r["code"] in allowed, r
        assert r["stdout_clean"], r
        if r["code"] == 2:
            assert r["stderr_lines"] == 1 and r["stderr"][0].startswith("layerloom: "), r


def _lenet():
    return json.loads(preset_path("lenet5").read_text())


def _write(tmp_path, name, data):
    path = tmp_path / f"{name}.loom.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _special_files(tmp_path):
    files = {}
    d = _lenet()
    d["blocks"][0]["pos"] = [10 ** 400, 0]
    files["huge_int_pos"] = _write(tmp_path, "huge_int_pos", d)
    text = json.dumps(_lenet()).replace('"kind": "ReLU"', '"kind": {}', 1)
    files["unhashable_kind"] = _write(tmp_path, "unhashable_kind", text)
    d = _lenet()
    d["edges"][0]["from"] = []
    files["unhashable_from"] = _write(tmp_path, "unhashable_from", d)
    files["lone_surrogate"] = _write(tmp_path, "lone_surrogate",
                                     json.dumps(_lenet()).replace('"name": "LeNet-5"', '"name": "x\\ud800y"'))
    files["escape_id"] = _write(tmp_path, "escape_id", json.dumps(_lenet()).replace(
        '"id": "conv1"', '"id": "conv1\\u001b[2J\\u0000' + "x" * 5000 + '"', 1))
    return files


def test_hostile_files_end_in_one_line_and_exit_2(tmp_path):
    files = _special_files(tmp_path)
    fifo = tmp_path / "fifo.loom.json"
    os.mkfifo(fifo)
    d = _lenet()
    d["blocks"].append({"id": "drop9", "kind": "Dropout", "params": {"p": 10 ** 400}, "pos": [0, 0]})
    files["huge_float"] = _write(tmp_path, "huge_float", d)
    paths = [*files.values(), fifo, "/dev/zero", "/dev/urandom"]
    records = run_cli(paths, commands=("check", "code"))
    assert_clean(records, allowed=(2,))
    by = {(Path(r["path"]).name, r["command"]): r for r in records}
    assert "not a regular file" in by[("fifo.loom.json", "check")]["stderr"][0]
    assert "not a regular file" in by[("zero", "check")]["stderr"][0]
    assert "lone surrogate" in by[("lone_surrogate.loom.json", "check")]["stderr"][0]
    assert "unknown block kind {}" in by[("unhashable_kind.loom.json", "check")]["stderr"][0]
    assert "does not exist" in by[("unhashable_from.loom.json", "code")]["stderr"][0]
    escaped = by[("escape_id.loom.json", "check")]["stderr"][0]
    assert "\\u001b" in escaped or "\\x1b" in escaped
    assert len(escaped) < 600
    huge = by[("huge_float.loom.json", "check")]["stderr"][0]
    assert "p must be a number" in huge and "digits" in huge


def test_large_graphs_that_are_allowed_load_analyse_and_print_code(tmp_path):
    # 9,999 blocks and 49,986 wires (inside the limits; loading used to be quadratic in wires),
    # an LSTM over 100,000 steps, and a 10^7 × 10^7 Linear whose code needs no weights in memory.
    rnd = random.Random(0)
    blocks = [{"id": "input", "kind": "Input", "params": {"shape": [4]}}]
    edges = []
    for i in range(1, 9998):
        blocks.append({"id": f"add{i}", "kind": "Add", "params": {"num_inputs": 5}})
        for port in range(5):
            edges.append({"from": blocks[rnd.randrange(i)]["id"], "to": f"add{i}", "to_port": port})
    blocks.append({"id": "output", "kind": "Output"})
    edges.append({"from": "add9997", "to": "output"})
    assert len(blocks) == 9999 and len(edges) == 49986
    big = {"format": "layerloom.graph", "version": 1, "name": "big", "blocks": blocks, "edges": edges}
    lstm = {"format": "layerloom.graph", "version": 1, "name": "long", "blocks": [
        {"id": "input", "kind": "Input", "params": {"shape": [100000, 3]}},
        {"id": "lstm", "kind": "LSTM", "params": {"hidden_size": 8, "num_layers": 4}},
        {"id": "output", "kind": "Output"}], "edges": [{"from": "input", "to": "lstm"}, {"from": "lstm", "to": "output"}]}
    linear = {"format": "layerloom.graph", "version": 1, "name": "wide", "blocks": [
        {"id": "input", "kind": "Input", "params": {"shape": [1000000]}},
        {"id": "fc", "kind": "Linear", "params": {"out_features": 10000000}},
        {"id": "output", "kind": "Output"}], "edges": [{"from": "input", "to": "fc"}, {"from": "fc", "to": "output"}]}
    records = run_cli([(_write(tmp_path, "big", big), ("check",)), _write(tmp_path, "lstm", lstm),
                       _write(tmp_path, "linear", linear)], commands=("check", "code"))
    assert_clean(records, allowed=(0,))
    assert len(records) == 5


HOSTILE_VALUES = [10 ** 400, -10 ** 400, -1, 0, 2 ** 63, 1e308, -0.0, None, True, {}, [], [[[[]]]], "",
                  "auto", "\x1b[2J\x00", "\ud800", "x" * 20000, {"kind": "Input"}, [1, 2, 3, 4, 5, 6, 7, 8, 9],
                  "LSTM", "conv1", "same", 3.5, [0, 0], [-1, -1]]


def _mutate(data, rnd):
    """Replace, delete or duplicate one randomly chosen value anywhere in the document."""
    data = copy.deepcopy(data)
    spots = []

    def walk(node):
        if isinstance(node, dict):
            for k in list(node):
                spots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])
    walk(data)
    for _ in range(rnd.randint(1, 3)):
        parent, key = rnd.choice(spots)
        action = rnd.random()
        try:
            if action < 0.7:
                parent[key] = copy.deepcopy(rnd.choice(HOSTILE_VALUES))
            elif action < 0.85:
                del parent[key]
            elif isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[str(rnd.choice(HOSTILE_VALUES))[:50]] = parent[key]
        except (IndexError, KeyError):
            pass
    return data


def test_mutated_presets_never_crash_the_cli(tmp_path):
    rnd = random.Random(1234)
    sources = [json.loads(preset_path(n).read_text()) for n in ("lenet5", "seq_mnist_lstm", "mlp", "text_gru")
               if preset_path(n).exists()]
    paths = []
    for i in range(MUTANTS):
        data = _mutate(rnd.choice(sources), rnd)
        try:
            text = json.dumps(data, ensure_ascii=True)
        except ValueError:     # a mutant json itself cannot write
            continue
        paths.append(_write(tmp_path, f"m{i}", text))
    records = run_cli(paths, commands=("check", "summary", "code"), timeout=900)
    assert len(records) == 3 * len(paths)
    assert_clean(records)
    assert {r["code"] for r in records} >= {1, 2}     # the mutants reached both kinds of refusal
