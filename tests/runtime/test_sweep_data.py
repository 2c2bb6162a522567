"""A sweep whose data set is not there is refused once, in words, before any trial runs or any sweep folder
is made: a deleted image folder, a path that is a file, an online set not downloaded while offline."""
import pytest

from layerloom.app.main import main
from layerloom.graph import load_graph
from layerloom.runtime.data import torchvision_sets
from layerloom.runtime.sweeps.coordinator import SweepRunner
from layerloom.runtime.sweeps.spec import parse_section
from layerloom.runtime.sweeps.study import create_study, open_storage

from .sweep_helpers import write_graph

SWEEP = {"name": "nodata", "params": {"training.lr": "log:1e-3:1e-2"}, "trials": 3}


def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path / "empty-data"))
    monkeypatch.setattr(torchvision_sets, "_unreachable", lambda urls: "this computer is offline")


def _graph(tmp_path, case, monkeypatch):
    if case == "deleted image folder":
        training = {"dataset": "image-folder", "dataset_options": {"path": str(tmp_path / "photos")}}
    elif case == "a file, not a folder":
        (tmp_path / "photos.txt").write_text("not images")
        training = {"dataset": "image-folder", "dataset_options": {"path": str(tmp_path / "photos.txt")}}
    else:
        _offline(monkeypatch, tmp_path)
        training = {"dataset": "fashion-mnist"}
    return write_graph(tmp_path / "g.loom.json", SWEEP, training)


@pytest.mark.parametrize("case", ["deleted image folder", "a file, not a folder", "online set, offline"])
def test_a_sweep_without_its_data_set_is_refused_before_any_trial(tmp_path, monkeypatch, capsys, case):
    graph = _graph(tmp_path, case, monkeypatch)
    out = tmp_path / "sweeps"
    assert main(["sweep", graph, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert line.startswith("layerloom sweep: the sweep was not started: ") and "Traceback" not in err
    assert ("photos" in line) if "folder" in case else ("fashion-mnist is not on this computer" in line)
    assert not (out / "nodata").exists()          # no study, no trial, no run folder


def test_a_sweep_worker_without_the_data_set_runs_no_trial(tmp_path, monkeypatch, capsys):
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    from PIL import Image
    for c in ("cats", "dogs"):
        (tmp_path / "photos" / c).mkdir(exist_ok=True)
        for i in range(3):
            Image.new("L", (28, 28), 40 * i).save(tmp_path / "photos" / c / f"{i}.png")
    graph = write_graph(tmp_path / "g.loom.json", SWEEP, {"dataset": "image-folder",
                                                          "dataset_options": {"path": str(tmp_path / "photos")}})
    journal = tmp_path / "shared.log"
    doc = load_graph(graph)
    spec = parse_section(doc)
    create_study(doc, spec, open_storage(f"journal:{journal}", tmp_path))
    import shutil
    shutil.rmtree(tmp_path / "photos")             # gone on the worker's machine
    assert main(["sweep-worker", "--storage", f"journal:{journal}", "--out", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerloom sweep-worker: this worker ran no trial: ") and "photos" in err, err
    assert not (tmp_path / "w" / "nodata" / "runs").exists()


def test_the_runner_checks_the_data_set_once_and_runs_no_trial(tmp_path, monkeypatch):
    _offline(monkeypatch, tmp_path)
    doc = load_graph(write_graph(tmp_path / "g.loom.json", SWEEP, {"dataset": "fashion-mnist"}))
    spec = parse_section(doc)
    folder = tmp_path / "sweeps" / spec.name
    study = create_study(doc, spec, open_storage(None, folder))
    events = []
    runner = SweepRunner(study, doc, spec, folder, threads=1, callback=events.append)
    assert runner.run() == []
    assert [e["type"] for e in events] == ["sweep_refused"]
    assert "fashion-mnist is not on this computer" in events[0]["message"]
    assert study.trials == [] and not (folder / "runs").exists()
