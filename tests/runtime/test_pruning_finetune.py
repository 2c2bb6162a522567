"""Pruning a trained LeNet-5 by half and fine-tuning one epoch keeps its accuracy on the real digits."""
import pytest
import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.runtime.cli import run
from layerloom.runtime.pruning import prune_run
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import ctrl_c_after, lenet


def test_lenet_with_half_its_channels_pruned_and_fine_tuned_keeps_its_accuracy(tmp_path, capsys):
    t = Trainer(lenet(), {"epochs": 3}, None, runs_base=tmp_path)        # the whole mnist-sample set
    assert t.run() is not None
    events = []
    report = prune_run(t.run_dir, 0.5, tmp_path / "pruned", blocks=["conv1", "conv2"], finetune_epochs=1,
                       runs_base=tmp_path, callback=events.append)
    rows = report.rows
    original, pruned, tuned = rows["original"], rows["pruned"], rows["fine-tuned"]
    assert pruned["macs"] <= 0.6 * original["macs"]
    assert pruned["params"] < 0.6 * original["params"] and pruned["bytes"] < 0.6 * original["bytes"]
    assert report.result.kept.keys() == {"conv1", "conv2"} and len(report.result.kept["conv2"]) == 8
    assert original["val_accuracy"] == t.summary["val_accuracy"]          # measured as the trainer did
    assert tuned["val_accuracy"] >= original["val_accuracy"] - 0.01, report.table()
    assert tuned["macs"] == pruned["macs"] and report.run_dir.is_dir()
    # the fine-tuning run started from the kept weights (the pruned graph's own), not from fresh ones
    (loaded,) = [e for e in events if e["type"] == "weights_loaded"]
    assert loaded["what"] == "graph" and loaded["new"] == [] and len(loaded["loaded"]) == len(report.result.weights)
    assert "fine-tuned" in report.table() and "MACs" in report.table()
    # the saved graph carries its kept weights: compiling it gives the pruned network
    saved = compile_graph(load_graph(report.graph_path))
    assert saved.meta["layerloom"]["weights"]["new"] == []
    assert all(torch.equal(saved.state_dict()[k], v) for k, v in report.result.weights.items())
    # the command line says in one line what cannot be pruned, and writes nothing
    assert run(["prune", str(t.run_dir), "--ratio", "0.5", "--block", "fc3", "--out", str(tmp_path / "no")]) == 2
    assert capsys.readouterr().err.strip() == ("layerloom prune: fc3 cannot be pruned: its outputs are the "
                                               "network's outputs; choose one of conv1, conv2, fc1, fc2 instead")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError])
def test_a_pruned_graph_interrupted_while_it_is_saved_leaves_no_weights_without_it(tmp_path, monkeypatch,
                                                                                   interruption):
    """Ctrl-C (or a full disk) between the weights and the graph that names them: neither stays."""
    from layerloom.graph import load_graph
    from layerloom.graph.pruning import prune_channels
    from layerloom.presets import preset_path
    from layerloom.runtime import pruning

    result = prune_channels(load_graph(preset_path("lenet5")), ratio=0.5)

    def interrupted(doc, path):
        raise interruption()
    monkeypatch.setattr(pruning, "save_graph", interrupted)
    with pytest.raises(interruption):
        pruning.save_pruned(result, tmp_path / "pruned")
    assert list((tmp_path / "pruned").iterdir()) == []
    monkeypatch.undo()
    path = pruning.save_pruned(result, tmp_path / "pruned")              # and saved whole, both are there
    assert sorted(p.name for p in (tmp_path / "pruned").iterdir()) == [path.name, "lenet-5.safetensors"]


def test_a_run_whose_data_set_is_not_here_is_pruned_without_fine_tuning(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "letters"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (32, 32), 40 * i + (100 if label == "b" else 0)).save(folder / label / f"{i}.png")
    t = Trainer(lenet(), {"epochs": 1, "batch_size": 4, "dataset": "image-folder",
                          "dataset_options": {"path": str(folder)}}, None, runs_base=tmp_path)
    assert t.run() is not None
    folder.rename(tmp_path / "moved")                                 # the run's images are not here any more
    out = tmp_path / "pruned"
    assert run(["prune", str(t.run_dir), "--ratio", "0.5", "--finetune-epochs", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Validation accuracy not measured. The image folder " in printed, printed
    assert "letters" in printed and "n/a" in printed, printed
    (graph,) = out.glob("*.loom.json")
    model = compile_graph(load_graph(graph))
    assert model.meta["layerloom"]["weights"]["new"] == []
    params = sum(p.numel() for p in model.parameters())
    assert f"pruned      {params:>12,}" in printed                      # the table's count is the module's
    # fine-tuning trains on the data set, so it still needs it
    assert run(["prune", str(t.run_dir), "--ratio", "0.5", "--out", str(tmp_path / "tuned")]) == 2
    assert "letters" in capsys.readouterr().err


def test_pruning_again_into_one_folder_keeps_the_earlier_pruned_graph(tmp_path):
    from layerloom.graph.pruning import prune_channels
    from layerloom.presets import preset_path
    from layerloom.runtime.pruning import save_pruned

    doc = load_graph(preset_path("lenet5"))
    half, most = prune_channels(doc, ratio=0.5), prune_channels(doc, ratio=0.75)
    first, second = save_pruned(half, tmp_path), save_pruned(most, tmp_path)
    assert (first.name, second.name) == ("lenet-5.loom.json", "lenet-5-2.loom.json")
    for path, result in ((first, half), (second, most)):     # each graph still carries its own kept weights
        state = compile_graph(load_graph(path)).state_dict()
        assert all(torch.equal(state[k], v) for k, v in result.weights.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet-5-2.loom.json", "lenet-5-2.safetensors",
                                                          "lenet-5.loom.json", "lenet-5.safetensors"]


def test_a_graph_file_given_for_a_run_is_named_as_a_file(tmp_path, capsys):
    """A new user's slip: the graph file where a trained run is asked for (prune, a teacher)."""
    from layerloom.presets import preset_path
    from layerloom.runtime.checkpoints import CheckpointError, load_checkpoint
    graph = str(preset_path("lenet5"))
    with pytest.raises(CheckpointError, match=r"lenet5\.loom\.json is a file, not a run: give a run folder"):
        load_checkpoint(graph)
    assert run(["prune", graph, "--ratio", "0.5", "--out", str(tmp_path / "p"), "--finetune-epochs", "0"]) == 2
    assert "is a file, not a run: give a run folder (runs/...) or one of its checkpoint folders" in \
        capsys.readouterr().err


@pytest.mark.parametrize("ratio", ["0", "1", "0.0", "100", "-0.5", "nan", "inf"])
def test_a_ratio_that_prunes_nothing_or_everything_is_refused_first_saying_what_fits(tmp_path, capsys, ratio):
    from layerloom.app.main import main
    assert main(["prune", str(tmp_path / "no-run"), "--ratio", ratio, "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"layerloom prune: --ratio {ratio}: ") and "between 0 and 1" in err and "0.5" in err, err
    assert "\n" not in err and not (tmp_path / "p").exists()


def test_a_distilled_runs_missing_or_damaged_teacher_is_named_as_the_runs_own(tmp_path, capsys):
    """The fine-tuning distils from the teacher the run's settings name (no --teacher was given to prune): the
    refusal says so and what to do, before anything is pruned or saved."""
    import shutil
    teacher = Trainer(lenet(), {"epochs": 1, "max_steps": 3}, None, runs_base=tmp_path / "teachers")
    assert teacher.run() is not None
    student = Trainer(lenet(), {"epochs": 1, "max_steps": 3, "teacher": str(teacher.run_dir)}, None,
                      runs_base=tmp_path / "students")
    assert student.run()["status"] == "finished"
    kept = shutil.copytree(teacher.run_dir, tmp_path / "kept")
    shutil.rmtree(teacher.run_dir)
    args = ["prune", str(student.run_dir), "--ratio", "0.5", "--out", str(tmp_path / "pruned"),
            "--runs", str(tmp_path / "runs")]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"layerloom prune: the fine-tuning distils from the teacher {teacher.run_dir}, as the run "
                           f"{student.run_dir} was trained (its settings name that teacher), but {teacher.run_dir} is "
                           "not there any more (moved or deleted): put the teacher's run back there, or prune with "
                           "--finetune-epochs 0 and fine-tune the pruned graph yourself (layerloom train GRAPH "
                           "--teacher RUN); nothing was saved"), err
    shutil.copytree(kept, teacher.run_dir)
    for weights in teacher.run_dir.glob("checkpoints/*/model.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])        # cut short, as by a full disk
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "its settings name that teacher), but the checkpoint " in err and "is corrupt or truncated" in err, err
    assert "earlier checkpoint" not in err and "--finetune-epochs 0" in err
    assert not (tmp_path / "pruned").exists() and not (tmp_path / "runs").exists()
    assert run([*args, "--finetune-epochs", "0"]) == 0         # pruning itself needs no teacher


def test_ctrl_c_during_the_fine_tuning_stops_it_cleanly_and_reports_the_prune(tmp_path):
    """As `layerloom train` does: the first Ctrl-C stops the fine-tuning after its step with a checkpoint; the
    prune still prints its table and where the pruned graph and the (resumable) run are, and exits 130."""
    from layerloom.runtime.checkpoints import load_checkpoint
    from layerloom.runtime.runs import read_json
    trainer = Trainer(lenet(), {"epochs": 1, "max_steps": 3}, None, runs_base=tmp_path / "runs")
    assert trainer.run() is not None
    code, out, err = ctrl_c_after(["prune", str(trainer.run_dir), "--ratio", "0.5", "--out", str(tmp_path / "pruned"),
                                   "--runs", str(tmp_path / "tuning"), "--finetune-epochs", "200"],
                                  lambda line: line.startswith("epoch 1/200"))
    assert code == 130, err
    assert "Stopping the fine-tuning after this step; the pruned graph is kept" in err and "Traceback" not in err
    run = next((tmp_path / "tuning").iterdir())
    assert f"Fine-tuning run: {run} (stopped)" in out and f"resume it with: layerloom train --resume {run}" in out
    assert "Pruned graph: " in out and "fine-tuned " in out, out
    assert read_json(run / "summary.json")["status"] == "stopped" and load_checkpoint(run).meta["step"] > 0
