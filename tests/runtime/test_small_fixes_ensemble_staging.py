"""`layerloom ensemble --out DIR` writes through the export's hidden staging folders (`.export-PID-XXXXXXXX.tmp`).
An ensemble export that was killed left its folder in DIR for good: the next `layerloom export` into DIR
removed it, but the next ensemble did not. Now it does, as the export does: a dead process's folders go, a live
export's stay."""
import pytest

from layerloom.app.main import main
from layerloom.runtime.trainer import Trainer

from .staging_helpers import killed_and_live
from .trainer_helpers import small_net


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    out = []
    for seed in (1, 2):
        trainer = Trainer(small_net(dropout=False), {"epochs": 1, "max_steps": 2, "seed": seed, "batch_size": 32,
                                                     "threads": 1}, runs_base=base)
        assert trainer.run()["status"] == "finished"
        out.append(str(trainer.run_dir))
    return out


def test_the_next_ensemble_removes_staging_folders_of_killed_exports_and_keeps_live_ones(runs, tmp_path, capsys):
    out = tmp_path / "ens"
    killed, live = killed_and_live(out, "ensemble.onnx")
    assert main(["ensemble", *runs, "--out", str(out), "--format", "project"]) == 0, capsys.readouterr().err
    assert not any(p.exists() for p in killed)
    assert (live / "ensemble.onnx").read_bytes() == b"half-written"          # another export's, still writing
    assert sorted(p.name for p in out.iterdir()) == [live.name, "project"]
    assert (out / "project" / "model.py").is_file()
