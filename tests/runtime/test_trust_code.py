"""A graph whose Opaque blocks run a person's Python file works in later processes: `layerloom import`
records the file (with its content's hash) in the per-user record of allowed code, later commands in new
processes run it, a file changed since is refused in words, and `--trust-code` (on every command that
loads a graph) allows it again. A package is allowed by its name. Each command here is a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layerloom.graph import trust
from layerloom.runtime.cli import COMMANDS, build_parser

MODEL = '''
import torch
from torch import nn


class Inner(nn.Module):          # tied weights: the importer keeps it as one Opaque block
    def __init__(self, width=4):
        super().__init__()
        self.e = nn.Linear(width, width, bias=False)
        self.h = nn.Linear(width, width, bias=False)
        self.h.weight = self.e.weight

    def forward(self, x):
        return self.h(torch.relu(self.e(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(4, 4)
        self.block = Inner(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.block(self.pre(x)))
'''


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    outside = {k: v for k, v in os.environ.items() if k != "LAYERLOOM_TRUST_RECORD"}    # the record in this HOME
    return {**outside, "HOME": str(home), "XDG_DATA_HOME": str(home / "share"), "OMP_NUM_THREADS": "1"}


def layerloom(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "layerloom", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def _params_of_source(path) -> int:
    """The parameter count of the source module itself (torch counts a tied weight once)."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return sum(p.numel() for p in namespace["Net"]().parameters())


def test_an_imported_file_runs_in_later_processes_until_it_changes_then_trust_code_allows_it(tmp_path, env):
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    graph = tmp_path / "net.loom.json"
    out = layerloom(env, "import", f"{model}:Net", "--out", graph, "--input-shape", "4")
    assert out.returncode == 0, out.stderr
    opaque = [b for b in json.loads(graph.read_text())["blocks"] if b["kind"] == "Opaque"]
    assert opaque and opaque[0]["params"]["target"] == f"{model.resolve()}:Inner"
    record = json.loads((tmp_path / "home/share/layerloom/trusted-code.json").read_text())
    assert record["files"] == {str(model.resolve()): trust.sha256(model.read_bytes())}

    check = layerloom(env, "check", graph)                     # a new process: the record allows the file
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{_params_of_source(model):,} parameters" in check.stdout
    summary = layerloom(env, "summary", graph, "--json")
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["total_params"] == _params_of_source(model)

    model.write_text(MODEL + "\nopen(__file__ + '.ran', 'w').close()\n")       # changed since it was allowed
    refused = layerloom(env, "check", graph)
    assert refused.returncode == 1
    assert "model.py changed since it was allowed" in refused.stdout
    assert "--trust-code" in refused.stdout and "Traceback" not in refused.stdout + refused.stderr
    assert not (tmp_path / "model.py.ran").exists()             # nothing of the changed file ran

    allowed = layerloom(env, "check", graph, "--trust-code")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert (tmp_path / "model.py.ran").exists()
    (tmp_path / "model.py.ran").unlink()
    again = layerloom(env, "summary", graph)                   # --trust-code remembered this content
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_graph_naming_a_file_never_allowed_is_refused_until_trust_code(tmp_path, env):
    """A graph from someone else names a file: nothing of it runs until the person says so."""
    model = tmp_path / "theirs.py"
    model.write_text(MODEL + "\nopen(__file__ + '.ran', 'w').close()\n")
    graph = tmp_path / "theirs.loom.json"
    graph.write_text(json.dumps({
        "format": "layerloom.graph", "version": 1, "name": "theirs",
        "blocks": [{"id": "input", "kind": "Input", "params": {"shape": [4]}},
                   {"id": "op", "kind": "Opaque", "params": {"target": f"{model}:Inner", "args": [4]}},
                   {"id": "output", "kind": "Output"}],
        "edges": [{"from": "input", "to": "op"}, {"from": "op", "to": "output"}]}))
    for command in (("check", graph), ("code", graph), ("summary", graph)):
        out = layerloom(env, *command)
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        said = out.stdout + out.stderr
        assert "runs code from the file" in said and "--trust-code" in said and "Traceback" not in said
        assert not (tmp_path / "theirs.py.ran").exists()
    code = layerloom(env, "code", graph, "--trust-code")
    assert code.returncode == 0, code.stderr
    assert "opaque_module(" in code.stdout
    assert layerloom(env, "check", graph).returncode == 0      # remembered


def test_a_package_is_allowed_by_its_name(tmp_path, env):
    package = tmp_path / "site" / "loompkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import os\nopen(os.environ['MARKER'], 'w').close()\n"
                                         "from torch import nn\n\n\nclass Twice(nn.Module):\n"
                                         "    def forward(self, x):\n        return 2 * x\n")
    env = {**env, "PYTHONPATH": str(tmp_path / "site"), "MARKER": str(tmp_path / "ran")}
    graph = tmp_path / "pkg.loom.json"
    graph.write_text(json.dumps({
        "format": "layerloom.graph", "version": 1, "name": "pkg",
        "blocks": [{"id": "input", "kind": "Input", "params": {"shape": [3]}},
                   {"id": "op", "kind": "Opaque", "params": {"target": "loompkg:Twice"}},
                   {"id": "output", "kind": "Output"}],
        "edges": [{"from": "input", "to": "op"}, {"from": "op", "to": "output"}]}))
    out = layerloom(env, "check", graph)
    assert out.returncode == 1 and "the package loompkg" in out.stdout and "by its name" in out.stdout
    assert not (tmp_path / "ran").exists()
    assert layerloom(env, "check", graph, "--trust-code").returncode == 0
    (tmp_path / "ran").unlink()
    assert layerloom(env, "check", graph).returncode == 0
    assert (tmp_path / "ran").exists()


def test_every_command_that_loads_a_graph_takes_trust_code():
    parser = build_parser("*")
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        options = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert ("--trust-code" in options) == (name != "import"), name


def test_a_damaged_record_trusts_nothing_and_is_replaced_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("LAYERLOOM_TRUST_RECORD", raising=False)
    path = trust.record_path()
    assert path == tmp_path / "share" / "layerloom" / "trusted-code.json"
    path.parent.mkdir(parents=True)
    model = tmp_path / "m.py"
    model.write_text("x = 1\n")
    digest = trust.sha256(model.read_bytes())
    for text in ("{not json", json.dumps({"format": "other", "files": {str(model): digest}}),
                 json.dumps({"format": trust.FORMAT, "files": {"relative.py": digest, str(model): "not-a-hash"},
                             "packages": ["os; rm", 3]})):
        path.write_text(text)
        assert trust.read_record() == ({}, set())
    trust.remember_file(str(model), digest)
    trust.remember_package("timm")
    assert trust.recorded_hash(str(model)) == digest and trust.package_recorded("timm.models")
    assert not trust.package_recorded("timmy")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]   # no temp file left
