"""A run is judged (bench, int8 export, ensemble, explain) and resumed only over the classes it trained on:
a class folder added (indices shift) or renamed (indices permute) since is refused in words naming what
changed, instead of results counted against other classes."""
import numpy as np
import pytest
from PIL import Image

from layerloom.app.main import main
from layerloom.graph import GraphDocument
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.data import load_dataset
from layerloom.runtime.ensemble import EnsembleDataMissing, evaluate, load_members
from layerloom.runtime.evaluation import evaluation_data
from layerloom.runtime.explain import ExplainError
from layerloom.runtime.explain_subject import load_subject
from layerloom.runtime.export import ExportError
from layerloom.runtime.latency import benchmark
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder

COLOURS = {"a": (255, 0, 0), "b": (0, 255, 0), "c": (0, 0, 255)}


def pictures(folder, classes=COLOURS, n=6):
    rng = np.random.default_rng(0)
    for name, colour in classes.items():
        (folder / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(np.array(colour)[None, None] * 0.8 + rng.integers(0, 50, (8, 8, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i}.png")
    return folder


def tiny_net():
    doc = GraphDocument("tiny")
    last = doc.add_block("Input", {"shape": [3, 8, 8]})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 8}), ("ReLU", {}),
                         ("Linear", {"out_features": "auto"}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    return doc


def train(folder, runs, lr=0.05, **config):
    trainer = Trainer(tiny_net(), {"dataset": "image-folder", "dataset_options": {"path": str(folder)}, "epochs": 3,
                                   "batch_size": 4, "lr": lr, "optimizer": "adam", "threads": 1, **config},
                      runs_base=runs)
    trainer.loader_workers = 0
    assert trainer.run()["status"] == "finished"
    return trainer.run_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("classes")
    folder = pictures(base / "pictures")
    return folder, [train(folder, base / "runs", lr) for lr in (0.05, 0.03)]


def bench(run):
    return benchmark(run, batches=(1,), threads=1, repeats=1, budget_s=0.01, formats={"torch"})


def refusals(run, runs, capsys, tmp_path):
    """What bench, explain, ensemble and prune say about the run(s) over the folder as it is now."""
    with pytest.raises(ExportError) as bench_error:
        bench(run)
    with pytest.raises(ExplainError) as explain_error:
        load_subject(run).sample(0)
    with pytest.raises(EnsembleDataMissing) as ensemble_error:
        evaluate(load_members(runs))
    assert main(["ensemble", *map(str, runs)]) == 2
    cli = capsys.readouterr().err
    out = tmp_path / "pruned"
    assert main(["prune", str(run), "--ratio", "0.5", "--out", str(out), "--runs", str(tmp_path / "finetuned")]) == 2
    pruned = capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "finetuned").exists()
    return [str(bench_error.value), str(explain_error.value), str(ensemble_error.value), cli, pruned]


def test_a_class_folder_added_since_is_refused_naming_it(trained, tmp_path, capsys):
    folder, runs = trained
    report = bench(runs[0])                                   # the folder as the runs trained on it: measured
    assert report["backends"][0]["accuracy"] == 1.0
    assert load_subject(runs[0]).sample(0)[2] in (0, 1, 2)
    pictures(folder, {"0extra": (128, 128, 128)})            # sorts first: every class number shifts by one
    try:
        for text in refusals(runs[0], runs, capsys, tmp_path):
            assert "trained on classes a, b, c; the folder now has 0extra, a, b, c (0extra added)" in text, text
            assert "put the data set back as it was" in text and "Traceback" not in text
    finally:
        for f in (folder / "0extra").iterdir():
            f.unlink()
        (folder / "0extra").rmdir()
    assert bench(runs[0])["backends"][0]["accuracy"] == 1.0   # put back: measured again, and pruned
    assert main(["prune", str(runs[0]), "--ratio", "0.5", "--finetune-epochs", "0", "--out", str(tmp_path / "p")]) == 0


def test_a_renamed_class_folder_is_refused_and_a_resume_over_it_too(tmp_path, capsys):
    folder = pictures(tmp_path / "pictures")
    run = train(folder, tmp_path / "runs", max_steps=5)       # stops during its second epoch
    (folder / "a").rename(folder / "z_a")                     # b, c, z_a: the indices permute
    rec = Recorder()
    summary = Trainer(None, {}, rec, resume=run).run()
    message = rec.of("failed")[0]["message"]
    assert summary is None and not rec.of("started")
    assert message.startswith(f"Cannot resume {run.name}: the run trained on classes a, b, c; the folder now has "
                              "b, c, z_a (z_a added; a missing)"), message
    assert "put the data set back as it was to resume" in message
    with pytest.raises(ExportError, match=r"the folder now has b, c, z_a \(z_a added; a missing\)"):
        bench(run)
    (folder / "z_a").rename(folder / "a")                     # put back as it was: it goes on
    rec = Recorder()
    assert Trainer(None, {}, rec, resume=run).run()["status"] == "finished"
    assert rec.of("started")[0]["start_step"] == 5


def test_evaluation_data_refuses_classes_that_changed(tmp_path):
    from layerloom.runtime.evaluation import ClassesChanged
    folder = pictures(tmp_path / "pictures")
    config = {"dataset": "image-folder", "dataset_options": {"path": str(folder)}}
    assert len(evaluation_data(config, (3, 8, 8), class_names=["a", "b", "c"])) > 0
    # an export completes the names with "output N" for outputs past the data set's classes: still a, b, c
    assert len(evaluation_data(config, (3, 8, 8), class_names=["a", "b", "c", "output 3"])) > 0
    with pytest.raises(ClassesChanged, match=r"on classes a, b, c, d; the folder now has a, b, c \(d missing\)"):
        evaluation_data(config, (3, 8, 8), class_names=["a", "b", "c", "d"])
    bundle = load_dataset("image-folder", input_shape=(3, 8, 8), path=str(folder))
    assert bundle.info.class_names == ("a", "b", "c")         # (the loader's own names, sorted)


def test_sets_whose_classes_never_change_or_have_none_pass():
    from layerloom.runtime.evaluation import classes_problem
    digits = [str(i) for i in range(10)]
    assert classes_problem(digits, tuple(digits), "mnist-sample") is None
    assert classes_problem(None, digits) is None and classes_problem(digits, ()) is None
    assert "the same classes in another order" in classes_problem(["1", "10", "2"], ["1", "2", "10"], "x")
    many = classes_problem([f"c{i:04d}" for i in range(1500)], [f"c{i:04d}" for i in range(1, 1501)], "image-folder")
    assert "1,500 classes: c0000, c0001" in many and "(c1500 added; c0000 missing)" in many and len(many) < 600


def test_the_prune_dialogs_evaluation_refuses_classes_that_changed(tmp_path):
    """runtime.pruning.run_evaluation (what the app's prune dialog measures with) checks the run's classes too."""
    from layerloom.runtime.evaluation import ClassesChanged
    from layerloom.runtime.pruning import run_evaluation
    folder = pictures(tmp_path / "pictures")
    meta = load_checkpoint(train(folder, tmp_path / "runs")).meta
    assert len(run_evaluation(meta).val_y) > 0
    (folder / "a").rename(folder / "z_a")
    with pytest.raises(ClassesChanged, match="z_a added; a missing"):
        run_evaluation(meta)
