"""Files the commands write and read: their permissions, a number too long to read, and a sweep folder two
storages would share.

- Checkpoint weights were written owner-only (0600: safetensors makes its files so) beside a meta.json and
  exports that anyone may read: every file gets the permissions a new file gets (what `open` gives under the
  umask), as the exports and graph files do.
- A 5,000-digit number in a graph file said "use sys.set_int_max_str_digits() to increase the limit": now the
  loader names where it is, as it does for any other value it refuses.
- Two sweeps of one name with different --storage shared one folder: runs/ collected several trial-0000 runs
  while results.json and trials/ held only the last sweep's. The second is refused, in words.
"""
import json
import os
import stat

import pytest

from layerloom.graph import compile_graph, save_graph
from layerloom.graph.fileformat import GraphFileError, graph_from_dict, load_graph
from layerloom.graph.weights import save_graph_weights
from layerloom.runtime.checkpoints import save_checkpoint
from layerloom.runtime.cli import run

from .sweep_helpers import small_graph, write_graph
from .trainer_helpers import tiny_linear


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=["umask-022", "umask-027", "umask-002"])
def umask(request, tmp_path):
    """The umask of a test, and the mode a file `open` creates gets under it (the reference)."""
    old = os.umask(request.param)
    try:
        with open(tmp_path / "made-by-open", "w"):
            pass
        yield _mode(tmp_path / "made-by-open")
    finally:
        os.umask(old)


def test_every_file_of_a_checkpoint_gets_the_permissions_a_new_file_gets(tmp_path, umask):
    doc = tiny_linear()
    ckpt = save_checkpoint(tmp_path / "checkpoints", "epoch-0001-step-0000001", compile_graph(doc).state_dict(),
                           {"optimizer": {}}, {"graph": {}, "epoch": 1, "step": 1, "step_in_epoch": 0})
    assert {f: oct(_mode(ckpt / f)) for f in ("model.safetensors", "state.pt", "meta.json")} == \
        dict.fromkeys(("model.safetensors", "state.pt", "meta.json"), oct(umask))


def test_a_graphs_weights_file_gets_the_permissions_a_new_file_gets_and_keeps_its_own(tmp_path, umask):
    doc = tiny_linear()
    save_graph(doc, tmp_path / "tiny.loom.json")
    weights = save_graph_weights(doc, compile_graph(doc).state_dict(), "tiny.safetensors")
    assert oct(_mode(weights)) == oct(umask) == oct(_mode(tmp_path / "tiny.loom.json"))
    os.chmod(weights, 0o600)                     # the person's choice for that file: written again, it stays
    save_graph_weights(doc, compile_graph(doc).state_dict(), "tiny.safetensors")
    assert oct(_mode(weights)) == oct(0o600)


def test_a_number_too_long_to_read_is_named_where_it_is(tmp_path):
    data = small_graph()
    data["blocks"][4]["params"]["out_features"] = -1
    with pytest.raises(GraphFileError) as usual:           # how the loader names a value it refuses there
        graph_from_dict(data)
    path = tmp_path / "big.loom.json"
    path.write_text(json.dumps(data).replace('"out_features": -1', '"out_features": ' + "9" * 5000))
    with pytest.raises(GraphFileError) as caught:
        load_graph(path)
    assert caught.value.location == usual.value.location == "$.blocks[4].params.out_features"
    assert "5,000 digits" in caught.value.reason and "set_int_max_str_digits" not in str(caught.value)


STAND_IN_TRIAL = "import sys\nprint('a stand-in for layerloom train', file=sys.stderr)\nsys.exit(1)\n"


def test_a_sweep_folder_belongs_to_one_storage(tmp_path, monkeypatch, capsys):
    """The reviewer's case, both ways round: a sweep kept in its folder's own journal, then one of the same name
    with --storage (refused as it starts its trials), and one with --storage first, then its folder's own
    journal (refused before its study is used). Resuming with the same storage still works."""
    from layerloom.runtime.sweeps import trial
    script = tmp_path / "trial.py"
    script.write_text(STAND_IN_TRIAL, encoding="utf-8")
    monkeypatch.setattr(trial, "TRAIN", [str(script)])
    out = tmp_path / "sweeps"
    for first, second in (("own", "shared-a"), ("shared-b", "own")):
        name = f"{first}-then-{second}"
        graph = write_graph(tmp_path / f"{name}.loom.json", {"name": name, "strategy": "grid", "workers": 1,
                                                             "params": {"training.lr": "choice:0.003,0.01"}})
        storage = {"own": [], first: ["--storage", str(tmp_path / f"{first}.log")],
                   second: ["--storage", str(tmp_path / f"{second}.log")]}
        assert run(["sweep", graph, "--out", str(out), *storage[first]]) == 1     # its trials failed: still a sweep
        before = sorted(p.name for p in (out / name / "runs").iterdir()) if (out / name / "runs").exists() else []
        results = (out / name / "results.json").read_text(encoding="utf-8")
        capsys.readouterr()
        assert run(["sweep", graph, "--out", str(out), *storage[second]]) == 2
        err = capsys.readouterr().err
        assert f"holds the runs and results of the sweep {name}" in err and "another name" in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert (out / name / "results.json").read_text(encoding="utf-8") == results          # untouched
        assert (sorted(p.name for p in (out / name / "runs").iterdir())
                if (out / name / "runs").exists() else []) == before
        assert run(["sweep", graph, "--out", str(out), *storage[first]]) in (0, 1)    # the first one resumes
        assert "holds the runs" not in capsys.readouterr().err
