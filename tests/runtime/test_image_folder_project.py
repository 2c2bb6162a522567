"""An image folder of real digits, trained from the command line, exported as a project that is
moved away from its data's source and still trains on the folder's 10 classes."""
import json
import re
import shutil
import stat
import sys

import numpy as np
import torch
from PIL import Image

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.data.image_folder import GRAY_MEAN, channel_statistics
from layerloom.runtime.data.mnist_sample import read_npz
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.export import project_images

LENET = str(preset_path("lenet5"))


def write_digits(root, per_class: dict, size=28):
    """root/<split>/<digit>/<n>.png from the built-in MNIST sample: per_class maps split -> count."""
    images, labels, _ = read_npz()
    taken = {d: 0 for d in range(10)}
    for split, count in per_class.items():
        for digit in range(10):
            folder = root / split / str(digit) if split else root / str(digit)
            folder.mkdir(parents=True)
            picks = np.flatnonzero(labels == digit)[taken[digit]:taken[digit] + count]
            taken[digit] += count
            for n, i in enumerate(picks):
                image = Image.fromarray(images[i])
                if size != 28:
                    image = image.resize((size, size), Image.Resampling.BILINEAR)
                image.save(folder / f"{n}.png")
    return root


def test_exported_project_trains_on_the_folders_classes_after_a_move(tmp_path, capsys, project_runner):
    source = write_digits(tmp_path / "digits", {"train": 40, "val": 10})
    runs = tmp_path / "runs"
    assert main(["train", LENET, "--dataset", "image-folder", "--data", str(source), "--epochs", "2",
                 "--quiet", "--out", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "Training on image-folder (400 train / 100 val)" in out
    run = next(runs.iterdir())
    bundle = load_dataset("image-folder", path=str(source), input_shape=(1, 28, 28))
    mean, std = bundle.info.mean, bundle.info.std
    pixels = torch.stack([bundle.train[i][0] for i in range(len(bundle.train))])
    # the folder's own statistics, on its training split, are stored in the run
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), pixels.mean((0, 2, 3)).double(), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), pixels.std((0, 2, 3), unbiased=False).double(), atol=1e-5,
                               rtol=0)
    ckpt = load_checkpoint(run)
    assert (tuple(ckpt.meta["mean"]), tuple(ckpt.meta["std"])) == (mean, std)

    project = tmp_path / "export" / "project"
    assert main(["export", str(run), "--format", "project", "--out", str(tmp_path / "export")]) == 0
    capsys.readouterr()
    meta = json.loads((project / "model.json").read_text())
    assert meta["class_names"] == [str(d) for d in range(10)]
    assert meta["normalization"] == {"mean": list(mean), "std": list(std)}
    moved = tmp_path / "elsewhere"
    shutil.move(str(project), str(moved))
    shutil.rmtree(source)
    shutil.rmtree(runs)
    for path in moved.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
            if path.suffix in (".py", ".json", ".md"):
                assert str(tmp_path) not in path.read_text(), path     # no path of the exporting machine
    assert len(list((moved / "data" / "images" / "train").rglob("*.png"))) == 400
    proc = project_runner.run(moved, "--epochs", "3", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "training on 400 samples" in proc.stdout
    accuracy = float(re.findall(r"val accuracy ([\d.]+)%", proc.stdout)[-1])
    assert accuracy > 60, proc.stdout          # 10 digit classes: chance is 10 %


def test_project_split_and_pixels_equal_layerloom_s(tmp_path):
    source = write_digits(tmp_path / "digits", {"": 12})
    bundle = load_dataset("image-folder", path=str(source), input_shape=(1, 20, 20), seed=3, val_fraction=0.25)
    module = tmp_path / "image_folder_data.py"
    module.write_text(project_images.module_source())
    sys.path.insert(0, str(tmp_path))
    try:
        import image_folder_data
        x_tr, y_tr, x_va, y_va, classes = image_folder_data.load(source, [1, 20, 20], 0.25, 3)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("image_folder_data", None)
    assert classes == list(bundle.info.class_names) == [str(d) for d in range(10)]
    ref_val = torch.stack([bundle.val[i][0] for i in range(len(bundle.val))])
    assert torch.equal(x_va, ref_val) and torch.equal(y_va, torch.stack([bundle.val[i][1] for i in range(len(bundle.val))]))
    assert len(x_tr) == len(bundle.train) == 90 and len(x_va) == 30
    assert channel_statistics(bundle.train) == (bundle.info.mean, bundle.info.std)


def test_images_smaller_than_the_input_are_never_enlarged_silently(tmp_path, capsys):
    source = write_digits(tmp_path / "small", {"train": 6, "val": 2}, size=8)
    runs = str(tmp_path / "runs")
    assert main(["train", LENET, "--dataset", "image-folder", "--data", str(source), "--max-steps", "1",
                 "--quiet", "--out", runs]) == 2     # refused by the check, before anything is loaded
    assert capsys.readouterr().err.strip() == (
        "layerloom train: input: Input expects 1×28×28 but the images of image-folder are 1×8×8, smaller: set the "
        "Input to 1×8×8, or resize the images to 28×28 (data setting size)")
    assert not (tmp_path / "runs").exists()
    assert main(["train", LENET, "--dataset", "image-folder", "--data", str(source), "--data-option", "size=28",
                 "--epochs", "1", "--max-steps", "1", "--quiet", "--out", runs]) == 0
    assert "Training on image-folder (60 train / 20 val)" in capsys.readouterr().out


def _untrained_export(tmp_path, source, capsys, seed=0):
    """LeNet-5 set to train on the image folder `source`, exported untrained as a project."""
    graph = json.loads(open(LENET).read())
    graph["training"] = {"dataset": "image-folder", "dataset_options": {"path": str(source)}, "seed": seed}
    path = tmp_path / "digits.loom.json"
    path.write_text(json.dumps(graph))
    assert main(["export", str(path), "--format", "project", "--out", str(tmp_path / "export")]) == 0
    capsys.readouterr()
    return tmp_path / "export" / "project"


def _project_load(project, root, shape):
    sys.path.insert(0, str(project))
    try:
        import image_folder_data
        return image_folder_data.load(root, shape, 0.2, 0)
    finally:
        sys.path.remove(str(project))
        sys.modules.pop("image_folder_data", None)


def test_project_reads_the_files_layerloom_reads(tmp_path, capsys):
    source = write_digits(tmp_path / "digits", {"": 5})
    elsewhere = write_digits(tmp_path / "more", {"": 3})
    (source / "0" / "linked").symlink_to(elsewhere / "0", target_is_directory=True)   # Layerloom does not enter it
    (source / "1" / "notes.txt").write_text("not an image")
    (source / "2" / "also.png").symlink_to(elsewhere / "2" / "0.png")                # a linked file is read
    shutil.rmtree(source / "9")
    (source / "9").symlink_to(elsewhere / "9", target_is_directory=True)            # and a linked class folder
    bundle = load_dataset("image-folder", path=str(source), input_shape=(1, 28, 28))
    assert len(bundle.train) + len(bundle.val) == 45 + 1 + 3
    project = _untrained_export(tmp_path, source, capsys)
    copied = project / "data" / "images"
    assert not (copied / "0" / "linked").exists() and not (copied / "1" / "notes.txt").exists()
    assert (copied / "2" / "also.png").is_file() and not (copied / "2" / "also.png").is_symlink()
    assert len(list((copied / "9").glob("*.png"))) == 3 and not (copied / "9").is_symlink()
    for root in (copied, source):       # the copy, and the original given with --data
        x_tr, y_tr, x_va, y_va, _ = _project_load(project, root, [1, 28, 28])
        assert (len(x_tr), len(x_va)) == (len(bundle.train), len(bundle.val))
        assert torch.equal(x_va, torch.stack([bundle.val[i][0] for i in range(len(bundle.val))]))


def test_untrained_export_normalises_as_training_would(tmp_path, capsys):
    source = write_digits(tmp_path / "digits", {"": 8})
    project = _untrained_export(tmp_path, source, capsys, seed=5)
    bundle = load_dataset("image-folder", path=str(source), input_shape=(1, 28, 28), seed=5)
    pixels = torch.stack([bundle.train[i][0] for i in range(len(bundle.train))]).double()
    meta = json.loads((project / "model.json").read_text())
    assert meta["normalization"] == {"mean": list(bundle.info.mean), "std": list(bundle.info.std)}
    torch.testing.assert_close(torch.tensor(meta["normalization"]["mean"], dtype=torch.float64), pixels.mean((0, 2, 3)),
                               atol=1e-5, rtol=0)
    assert meta["normalization"]["mean"] != list(GRAY_MEAN)          # not the stand-in before the folder is read
    assert f"MEAN = {list(bundle.info.mean)!r}" in (project / "train.py").read_text()
