"""`layerloom train` in a real subprocess: progress, epochs, resume, Ctrl-C."""
import re

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.runs import read_json

from .trainer_helpers import ctrl_c_after

LENET = str(preset_path("lenet5"))


def test_train_then_resume(tmp_path, capsys):
    assert main(["train", LENET, "--epochs", "1", "--max-steps", "20", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Training on mnist-sample (4,000 train / 1,000 val)" in out
    run = next(tmp_path.iterdir())
    assert read_json(run / "summary.json")["steps"] == 20
    assert main(["train", "--resume", str(run), "--max-steps", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out
    assert read_json(run / "summary.json")["steps"] == 30


def test_train_reports_bad_input(tmp_path, capsys):
    assert main(["train", LENET, "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert "There is no data set called 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.loom.json"
    bad.write_text("{}")
    assert main(["train", str(bad)]) == 2


def test_train_prints_each_preflight_error_on_one_line_before_loading_anything(tmp_path, capsys, monkeypatch):
    from layerloom.graph import load_graph, save_graph
    from layerloom.runtime import trainer

    def heavy(*args, **kwargs):
        raise AssertionError("loaded data or built a model before the check")
    monkeypatch.setattr(trainer, "load_dataset", heavy)
    monkeypatch.setattr(trainer, "compile_graph", heavy)
    doc = load_graph(LENET)
    doc.set_param("fc3", "out_features", 5)
    path = tmp_path / "wrong.loom.json"
    save_graph(doc, path)
    assert main(["train", str(path), "--dataset", "cifar10", "--out", str(tmp_path / "runs")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "layerloom train: input: Input expects 1×28×28 but cifar10 gives 3×32×32 (RGB images have 3 channels): "
        "set the Input shape to [3, 32, 32]",
        "layerloom train: fc3: The graph ends in 5 outputs but cifar10 has 10 classes: set the last Linear's "
        "out_features to 10",
    ]
    assert not (tmp_path / "runs").exists()
    assert main(["train", str(path), "--lr", "-1"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_train_prints_the_figures_a_live_run_folds_from_the_same_events(tmp_path, capsys, monkeypatch):
    from layerloom.runtime import train_cli
    from layerloom.runtime.live import LiveRun

    events = []
    real = train_cli.Trainer

    def recording(doc, overrides, callback, **kwargs):
        def keep(e):
            events.append(e)
            callback(e)
        return real(doc, overrides, keep, **kwargs)
    monkeypatch.setattr(train_cli, "Trainer", recording)
    assert main(["train", LENET, "--epochs", "2", "--data-option", "train_count=512", "--batch-size", "128",
                 "--quiet", "--out", str(tmp_path), "--no-tensorboard", "--health-every", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    live = LiveRun()
    for e in events:
        live.apply(e)
    assert live.state == "finished" and len(live.epochs) == 2
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    for i, line in enumerate(epoch_lines):
        row = {c: live.epochs.col(c)[i] for c in ("train_loss", "val_loss", "val_accuracy")}
        assert line.startswith(f"epoch {i + 1}/2: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
                               f"val accuracy {row['val_accuracy'] * 100:.2f}% (")
    summary = read_json(next(tmp_path.iterdir()) / "summary.json")
    assert live.summary["val_accuracy"] == summary["val_accuracy"] and live.step == summary["steps"] == 8
    done = lines[-1]
    assert done.startswith(f"Done: val accuracy {summary['val_accuracy'] * 100:.2f}% after 2 epochs, 8 steps, ")
    assert re.fullmatch(r"\d+(\.\d+)? s", done.rsplit(", ", 1)[1])     # the run's duration, in seconds


def test_ctrl_c_stops_cleanly_with_a_resumable_checkpoint(tmp_path):
    code, out, err = ctrl_c_after(["train", LENET, "--epochs", "200", "--out", str(tmp_path)],
                                  lambda line: "Run folder" in line, pause=1.0)
    assert code == 130, err
    assert "Stopped at step" in out and "--resume" in out
    run = next(tmp_path.iterdir())
    ckpt = load_checkpoint(run)
    assert ckpt.meta["step"] > 0
    assert read_json(run / "summary.json")["status"] == "stopped"


def test_distillation_settings_without_a_teacher_are_refused_before_any_run(tmp_path, capsys):
    mlp = str(preset_path("mlp"))
    assert main(["train", mlp, "--alpha", "0.5", "--temperature", "2", "--max-steps", "1",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("layerloom train: --temperature and --alpha set how to distil from a teacher, and this run has "
                   "none: give --teacher RUN (a trained run folder) as well, or leave them out")
    assert not (tmp_path / "runs").exists()
