"""Ensembles of runs: accuracies against the trainer's own validation, ONNX and project outputs against
the mean of the members' softmax (onnxruntime, and the exported model.py imported on its own)."""
import importlib
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from layerloom.app.main import main
from layerloom.runtime.ensemble import EnsembleError, evaluate, export_ensemble, load_members
from layerloom.runtime.export import load_source
from layerloom.runtime.runs import read_json
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import small_net


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    out = []
    for seed in (1, 2, 3):
        trainer = Trainer(small_net(dropout=False), {"epochs": 1, "max_steps": 25, "seed": seed, "batch_size": 64,
                                                     "threads": 1}, runs_base=base)
        assert trainer.run()["status"] == "finished"
        out.append(trainer.run_dir)
    return out


def test_accuracies_match_each_runs_own_validation(runs):
    report = evaluate(load_members(runs))
    for run, member in zip(runs, report["members"]):
        assert member["val_accuracy"] == pytest.approx(read_json(run / "summary.json")["val_accuracy"], abs=1e-9)
    assert 0.1 < report["ensemble_val_accuracy"] <= 1.0 and report["num_val"] == 1000


def test_onnx_and_project_output_the_mean_of_the_members_softmax(runs, tmp_path):
    members = load_members(runs)
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.stack([torch.softmax(load_source(r).model(x), dim=1) for r in runs]).mean(0).numpy()
    done = export_ensemble(members, tmp_path / "ens")
    session = ort.InferenceSession(str(done["onnx"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)

    project = done["project"]
    sys.path.insert(0, str(project))
    try:
        model_py = importlib.import_module("model")
        model = model_py.load(str(project / "ensemble_state.pt"))
        with torch.no_grad():
            np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)
        assert "layerloom" not in (project / "model.py").read_text()
    finally:
        sys.path.remove(str(project))
        for name in [n for n in sys.modules if n == "model" or n.startswith("member_")]:
            del sys.modules[name]


def test_members_must_share_inputs_and_outputs(runs, tmp_path, capsys):
    with pytest.raises(EnsembleError, match="at least two"):
        load_members(runs[:1])
    other = Trainer(small_net(dropout=False), {"epochs": 1, "max_steps": 2, "dataset": "shapes", "threads": 1},
                    runs_base=tmp_path)
    other.doc.blocks["input"].params["shape"] = [3, 64, 64]
    assert other.run() is not None
    with pytest.raises(EnsembleError, match="different input shape"):
        load_members([runs[0], other.run_dir])
    assert main(["ensemble", str(runs[0]), str(other.run_dir)]) == 2
    assert "different input shape" in capsys.readouterr().err


def test_a_project_of_members_whose_classes_follow_their_data_loads_their_weights(tmp_path):
    """Members with an "auto" class count trained on `figures` (12 classes, not the fallback 10): the
    member files of the project are built for the data they were trained on, and model.py loads."""
    from layerloom.graph import GraphDocument
    from layerloom.runtime.data import dataset_info
    runs = []
    for seed in (1, 2):
        doc = GraphDocument("auto classes")
        last = doc.add_block("Input", {"shape": [3, 32, 32]})
        for kind, params in (("Flatten", {}), ("Linear", {"out_features": "auto"}), ("Output", {})):
            block = doc.add_block(kind, params)
            doc.connect(last, block)
            last = block
        trainer = Trainer(doc, {"dataset": "figures", "epochs": 1, "max_steps": 2, "batch_size": 8, "seed": seed,
                                "threads": 1}, runs_base=tmp_path / "runs")
        assert trainer.run()["status"] == "finished"
        runs.append(trainer.run_dir)
    done = export_ensemble(load_members(runs), tmp_path / "ens", ["project"])
    project = done["project"]
    sys.path.insert(0, str(project))
    try:
        model = importlib.import_module("model").load(str(project / "ensemble_state.pt"))
        with torch.no_grad():
            out = model(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, dataset_info("figures").num_classes) == (2, 12)
    finally:
        sys.path.remove(str(project))
        for name in [n for n in sys.modules if n == "model" or n.startswith("member_")]:
            del sys.modules[name]


def test_members_trained_without_normalisation_are_evaluated_as_they_were_trained(runs, tmp_path, capsys):
    plain = []
    for seed in (4, 5):
        trainer = Trainer(small_net(dropout=False), {"epochs": 1, "max_steps": 25, "seed": seed, "batch_size": 64,
                                                     "threads": 1, "normalize": False}, runs_base=tmp_path)
        assert trainer.run()["status"] == "finished"
        plain.append(trainer.run_dir)
    report = evaluate(load_members(plain))
    for run, member in zip(plain, report["members"]):
        assert member["val_accuracy"] == pytest.approx(read_json(run / "summary.json")["val_accuracy"], abs=1e-9)
    # one input cannot be normalised for one member and raw for the other
    with pytest.raises(EnsembleError, match=r"different input normalisation \(none\) from .*'mean': \[0\.1307\]"):
        load_members([runs[0], plain[0]])
    assert main(["ensemble", str(runs[0]), str(plain[0])]) == 2
    assert "combine runs trained with the same data settings" in capsys.readouterr().err


def _pictures(folder, per_class: int, seed: int):
    """An image folder of two classes of random 28x28 grey pictures, without train/ and val/."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(folder / label / f"{i}.png")
    return folder


def test_members_that_held_out_different_samples_are_not_scored_together(tmp_path, capsys):
    """An image folder without train/ and val/ is split by the run's seed: members of seeds 1 and 2 held out
    different images, so one split would score images the other member trained on."""
    from layerloom.runtime.data import load_dataset
    folder = _pictures(tmp_path / "pictures", 10, seed=0)
    options = {"dataset": "image-folder", "dataset_options": {"path": str(folder)}}
    splits = [load_dataset("image-folder", input_shape=(1, 28, 28), seed=s, path=str(folder)).val for s in (1, 2)]
    assert sorted(splits[0].indices) != sorted(splits[1].indices)          # the loader's own splits
    runs = {}
    for normalize in (False, True):
        for seed in (1, 2):
            doc = small_net(dropout=False)
            doc.set_param("fc1", "out_features", 2)
            trainer = Trainer(doc, {**options, "epochs": 1, "batch_size": 8, "seed": seed, "threads": 1,
                                    "normalize": normalize}, runs_base=tmp_path / f"runs-{normalize}")
            assert trainer.run()["status"] == "finished"
            runs.setdefault(normalize, []).append(trainer.run_dir)
    # members of one seed held out the same images: scored on them, each as its own run scored itself
    doc = small_net(dropout=False)
    doc.set_param("fc1", "out_features", 2)
    other = Trainer(doc, {**options, "epochs": 1, "batch_size": 8, "seed": 1, "threads": 1, "normalize": False,
                          "lr": 0.003, "optimizer": "adam"}, runs_base=tmp_path / "runs-other")
    assert other.run()["status"] == "finished"
    report = evaluate(load_members([runs[False][0], other.run_dir]))
    for run, member in zip([runs[False][0], other.run_dir], report["members"]):
        assert member["val_accuracy"] == pytest.approx(read_json(run / "summary.json")["val_accuracy"], abs=1e-9)
    with pytest.raises(EnsembleError, match=r"different training / validation splits of image-folder \(seeds 1 "
                                            r"and 2; this data set splits by the seed\)"):
        evaluate(load_members(runs[False]))
    with pytest.raises(EnsembleError, match=r"splits of image-folder .* \(their normalisation differs too\)"):
        load_members(runs[True])
    folder.rename(tmp_path / "moved")                  # the images are gone: a sentence, not a traceback
    assert main(["ensemble", str(runs[False][0]), str(other.run_dir)]) == 2
    assert "layerloom ensemble: the members cannot be scored, their data set does not load: The image folder " \
        in capsys.readouterr().err


def test_members_that_read_their_image_folder_with_other_options_are_not_scored_together(tmp_path, capsys):
    """One seed, but another validation fraction: another split. The ensemble used to be scored on the first
    member's split, which holds images the other member trained on (the score depended on the order)."""
    from layerloom.runtime.data import load_dataset
    folder = _pictures(tmp_path / "pictures", 15, seed=1)
    settings = {"path": str(folder)}, {"path": str(folder), "val_fraction": 0.2}, \
        {"path": str(folder), "val_fraction": 0.5}
    splits = [sorted(load_dataset("image-folder", input_shape=(1, 28, 28), seed=1, **o).val.indices) for o in settings]
    assert splits[0] == splits[1] != splits[2]                 # the loader's own splits: 0.2 is its default
    runs = {}
    for normalize in (False, True):
        for i, options in enumerate(settings):
            doc = small_net(dropout=False)
            doc.set_param("fc1", "out_features", 2)
            trainer = Trainer(doc, {"dataset": "image-folder", "dataset_options": options, "epochs": 1,
                                    "batch_size": 8, "seed": 1, "threads": 1, "normalize": normalize},
                              runs_base=tmp_path / f"runs-{normalize}-{i}")
            assert trainer.run()["status"] == "finished"
            runs.setdefault(normalize, []).append(trainer.run_dir)
    plain = runs[False]
    report = evaluate(load_members(plain[:2]))               # the default written out or left out: one split
    for run, member in zip(plain[:2], report["members"]):
        assert member["val_accuracy"] == pytest.approx(read_json(run / "summary.json")["val_accuracy"], abs=1e-9)
    for pair in ([plain[1], plain[2]], [plain[2], plain[1]]):
        with pytest.raises(EnsembleError, match=r"the members read image-folder with other options \(val_fraction "
                                                r"0\.[25] against 0\.[25]\), so they held out other validation samples"):
            evaluate(load_members(pair))
    with pytest.raises(EnsembleError, match=r"other options \(val_fraction 0\.2 against 0\.5\).*\(their normalisation "
                                            r"differs too\)"):
        load_members([runs[True][1], runs[True][2]])
    assert main(["ensemble", str(plain[2]), str(plain[0])]) == 2
    err = capsys.readouterr().err
    assert "(val_fraction 0.5 against the default)" in err and "Traceback" not in err


def test_the_same_run_given_twice_is_refused_naming_both_arguments(runs, capsys, monkeypatch):
    run = runs[0]
    monkeypatch.chdir(run.parent)
    newest = sorted(p for p in (run / "checkpoints").iterdir() if p.is_dir())[-1]
    for args, repeat in (([str(run), str(run)], "is the same run as argument 1"),
                         ([str(runs[1]), str(run), f"./{run.name}/"], "loads the same checkpoint as argument 2"),
                         ([str(run), str(newest)], "loads the same checkpoint as argument 1")):
        assert main(["ensemble", *args]) == 2
        err = capsys.readouterr().err
        assert f"argument {len(args)} ({args[-1]}) {repeat}" in err and "give each run once" in err, err
        with pytest.raises(EnsembleError, match="give each run once"):
            load_members(args)
    assert len(load_members([run, runs[1]])) == 2        # two different runs are an ensemble


def test_exporting_again_into_the_same_folder_is_refused_before_anything_is_replaced(runs, tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["ensemble", str(runs[0]), str(runs[1]), "--out", str(out)]
    assert main([*args, "--format", "onnx"]) == 0
    onnx = out / "ensemble.onnx"
    before = (onnx.read_bytes(), onnx.stat().st_mtime_ns)
    capsys.readouterr()
    assert main(args) == 2                    # the ONNX file is there: neither it nor a project is written
    assert capsys.readouterr().err.strip() == (f"layerloom ensemble: {out} already holds an ensemble "
                                               "(ensemble.onnx): choose a new folder, or delete what is there first")
    assert (onnx.read_bytes(), onnx.stat().st_mtime_ns) == before and not (out / "project").exists()


def test_runs_whose_data_set_is_not_here_are_exported_without_a_score(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "letters"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (28, 28), 40 * i + (100 if label == "b" else 0)).save(folder / label / f"{i}.png")
    runs = []
    for lr in (0.01, 0.003):                       # one seed: this folder is split by the seed
        doc = small_net(dropout=False)
        doc.set_param("fc1", "out_features", 2)
        trainer = Trainer(doc, {"dataset": "image-folder", "dataset_options": {"path": str(folder)}, "epochs": 1,
                                "batch_size": 4, "seed": 1, "lr": lr, "threads": 1}, runs_base=tmp_path / "runs")
        assert trainer.run()["status"] == "finished"
        runs.append(str(trainer.run_dir))
    folder.rename(tmp_path / "moved")                 # the images are not here any more
    assert main(["ensemble", *runs]) == 2              # nothing to do without them: it says how to export anyway
    assert "with --out DIR the ensemble is exported all the same" in capsys.readouterr().err
    assert main(["ensemble", *runs, "--out", str(tmp_path / "ens"), "--format", "onnx"]) == 0
    printed = capsys.readouterr().out
    assert "Validation accuracy not measured: the members cannot be scored" in printed and "letters" in printed
    session = ort.InferenceSession(str(tmp_path / "ens" / "ensemble.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.stack([torch.softmax(load_source(r).model(x), dim=1) for r in runs]).mean(0).numpy()
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0], expected, atol=1e-5)


def test_text_runs_with_different_vocabularies_are_refused_in_either_order(tmp_path, capsys):
    from .text_helpers import text_net, texts_csv
    csv = texts_csv(tmp_path / "texts.csv")
    small, large = (Trainer(text_net(csv, size), {"max_steps": 2}, None, runs_base=tmp_path / f"v{size}")
                    for size in (12, 60))
    assert small.run() is not None and large.run() is not None
    for pair in ((small.run_dir, large.run_dir), (large.run_dir, small.run_dir)):
        assert main(["ensemble", *map(str, pair)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"layerloom ensemble: {pair[1]} has a different vocabulary (") and "Traceback" not in err
        assert "token ids would mean other words" in err, err


def _listing(folder):
    return sorted((str(p.relative_to(folder)), p.is_dir()) for p in folder.rglob("*")) if folder.exists() else None


def test_an_ensemble_export_that_fails_midway_leaves_no_half_folder(runs, tmp_path, monkeypatch, capsys):
    """The project fails after the ONNX file was written: neither is left, nor the folder the export made."""
    import layerloom.runtime.ensemble as ensemble
    members = load_members(runs[:2])

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ensemble, "write_model_json", full_disk)
    out = tmp_path / "new" / "ens"
    assert main(["ensemble", str(runs[0]), str(runs[1]), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert not (tmp_path / "new").exists()                 # (it held ensemble.onnx)
    assert "the disk is full" in err and "nothing was exported" in err and "Traceback" not in err, err

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(ensemble, "write_model_json", interrupted)
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "project").mkdir()                             # an empty folder the project may go in
    before = _listing(out)
    with pytest.raises(KeyboardInterrupt):
        export_ensemble(members, out, ["project"])
    assert _listing(out) == before


def test_an_ensemble_interrupted_while_it_moves_into_place_puts_back_what_was_there(runs, tmp_path, monkeypatch):
    """Ctrl-C between moving the ONNX file and the project into place: the ONNX file is taken back and the empty
    project folder it replaced is there again; a later export then succeeds."""
    import layerloom.runtime.export.staging as staging
    members = load_members(runs[:2])
    out = tmp_path / "ens"
    (out / "project").mkdir(parents=True)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    before = _listing(out)
    real = staging.os.replace

    def replace(src, dst):
        if str(src).endswith("project") and ".export-" in str(src):
            raise KeyboardInterrupt
        return real(src, dst)
    monkeypatch.setattr(staging.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        export_ensemble(members, out)
    assert _listing(out) == before
    monkeypatch.setattr(staging.os, "replace", real)
    done = export_ensemble(members, out)
    assert done == {"onnx": out / "ensemble.onnx", "project": out / "project"}
    assert (out / "project" / "model.json").is_file() and (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["ensemble.onnx", "notes.txt", "project"]
