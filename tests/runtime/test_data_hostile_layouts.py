"""Image folders laid out as people really lay them out: Kaggle's train/ + test/ or train/ + valid/, split folders
beside class folders, Jupyter's hidden .ipynb_checkpoints copies, macOS ._ resource forks, folders that cannot be
read. Each is read as the layout means (class lists and counts as torchvision's ImageFolder reads the same
folders) or refused in one sentence that names the folder."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.data import DataError, dataset_info, load_dataset


def picture(path, size=(6, 5), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def class_folder(root, counts: dict):
    for cls, n in counts.items():
        for i in range(n):
            picture(root / cls / f"{i}.png", seed=100 * len(cls) + i)


def files_of(dataset, root) -> list[str]:
    """The dataset's files relative to `root`, in its order (a Subset's or a whole folder's)."""
    samples = dataset.dataset.samples if hasattr(dataset, "indices") else dataset.samples
    picks = dataset.indices if hasattr(dataset, "indices") else range(len(samples))
    return [os.path.relpath(samples[i][0], root) for i in picks]


def reference(folder):
    """torchvision's own reading of a class folder: the classes and the files, relative to it."""
    ref = ImageFolder(str(folder))
    return ref.classes, sorted(os.path.relpath(p, folder) for p, _ in ref.samples)


@pytest.mark.parametrize("train, val", [("train", "val"), ("train", "valid"), ("train", "validation"),
                                        ("Train", "Valid"), ("TRAIN", "VALIDATION")])
def test_a_validation_folder_by_any_of_its_names_is_the_validation_split(tmp_path, train, val):
    class_folder(tmp_path / train, {"cats": 3, "dogs": 4})
    class_folder(tmp_path / val, {"cats": 2, "dogs": 1})
    info = dataset_info("image-folder", path=str(tmp_path), input_shape=(3, 5, 6))
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(3, 5, 6))
    classes, train_files = reference(tmp_path / train)
    assert info.class_names == bundle.info.class_names == tuple(classes) == ("cats", "dogs")
    assert sorted(files_of(bundle.train, tmp_path / train)) == train_files
    assert sorted(files_of(bundle.val, tmp_path / val)) == reference(tmp_path / val)[1]
    assert info.notes == ()


def test_train_and_test_without_a_validation_folder_validates_on_test_and_says_so(tmp_path):
    class_folder(tmp_path / "train", {"a": 4, "b": 4})
    class_folder(tmp_path / "test", {"a": 2, "b": 3})
    info = dataset_info("image-folder", path=str(tmp_path))
    assert info.class_names == ("a", "b")                 # it was ('test', 'train'): a train-vs-test classifier
    note = "There is no val/ folder, so test/ is used as the validation split."
    assert info.notes == (note,) and note in info.description
    bundle = load_dataset("image-folder", path=str(tmp_path))
    assert sorted(files_of(bundle.train, tmp_path / "train")) == reference(tmp_path / "train")[1]
    assert sorted(files_of(bundle.val, tmp_path / "test")) == reference(tmp_path / "test")[1]
    assert note in bundle.info.description


def test_test_beside_a_validation_folder_is_named_as_not_used(tmp_path):
    for split, n in (("train", 3), ("valid", 2), ("test", 5)):
        class_folder(tmp_path / split, {"a": n, "b": n})
    bundle = load_dataset("image-folder", path=str(tmp_path))
    assert bundle.info.notes == ("test/ is not used: the run trains on train/ and validates on valid/.",)
    assert len(bundle.train) == 6 and len(bundle.val) == 4


def test_a_lone_train_folder_is_split_by_val_fraction(tmp_path):
    class_folder(tmp_path / "train", {"a": 5, "b": 5})
    bundle = load_dataset("image-folder", path=str(tmp_path), val_fraction=0.2)
    assert bundle.info.class_names == ("a", "b") and (len(bundle.train), len(bundle.val)) == (8, 2)
    assert "val_fraction of the images in train/ is set aside" in bundle.info.notes[0]


def test_split_folders_beside_class_folders_are_refused(tmp_path, capsys):
    class_folder(tmp_path, {"cats": 2, "dogs": 2, "Test": 2})
    with pytest.raises(DataError) as info:
        dataset_info("image-folder", path=str(tmp_path))
    assert str(info.value) == (
        f"The folder {tmp_path} holds split folders (Test/) beside class folders (cats/, dogs/): put every class "
        "folder inside train/ and val/ (train/cats/, val/cats/), or move Test/ out, or rename it if a class is "
        "called so.")
    code = main(["train", str(preset_path("lenet5")), "--dataset", "image-folder", "--data", str(tmp_path),
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "holds split folders" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("splits, words", [
    (("train", "val", "valid"), "has val/ and valid/ for the same split: keep one of them"),
    (("train", "Train", "val"), "has Train/ and train/ for the same split"),
    (("val", "test"), "has test/, val/ but no train/ folder: put the training images in train/"),
])
def test_a_split_layout_that_cannot_be_read_one_way_is_refused(tmp_path, splits, words):
    for split in splits:
        class_folder(tmp_path / split, {"a": 1, "b": 1})
    if len(os.listdir(tmp_path)) < len(splits):
        pytest.skip("this file system folds case: Train/ and train/ are one folder")
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        dataset_info("image-folder", path=str(tmp_path))


def test_hidden_folders_inside_a_class_are_not_read(tmp_path):
    """Jupyter leaves .ipynb_checkpoints/ copies of the pictures in each class folder; read, a copy landed in
    validation while its original trained. The listing equals torchvision's on the folder without them."""
    mine, plain = tmp_path / "mine", tmp_path / "plain"
    class_folder(plain, {"cats": 10, "dogs": 10})
    shutil.copytree(plain, mine)
    hidden = mine / "cats" / ".ipynb_checkpoints"
    hidden.mkdir()
    for i in range(10):
        shutil.copy(mine / "cats" / f"{i}.png", hidden / f"{i}-checkpoint.png")
    (mine / "dogs" / "sub" / ".git").mkdir(parents=True)
    picture(mine / "dogs" / "sub" / ".git" / "x.png")
    picture(mine / "dogs" / "sub" / "kept.png")
    picture(plain / "dogs" / "sub" / "kept.png")
    bundle = load_dataset("image-folder", path=str(mine), input_shape=(3, 5, 6))
    listed = files_of(bundle.train, mine) + files_of(bundle.val, mine)
    assert sorted(listed) == reference(plain)[1]
    assert not any("/." in "/" + f for f in listed)


def test_macos_resource_forks_are_skipped_and_counted(tmp_path):
    """A copy from a Mac disk leaves ._name.png beside every picture: metadata, never an image. Each one failed
    a run when read; they are left out, and the description says how many."""
    mine, plain = tmp_path / "mine", tmp_path / "plain"
    class_folder(plain, {"cats": 4, "dogs": 4})
    shutil.copytree(plain, mine)
    for cls in ("cats", "dogs"):
        for i in range(4):
            (mine / cls / f"._{i}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    info = dataset_info("image-folder", path=str(mine))
    assert info.sample_shape == (3, 5, 6)
    bundle = load_dataset("image-folder", path=str(mine), val_fraction=0.25)
    assert sorted(files_of(bundle.train, mine) + files_of(bundle.val, mine)) == reference(plain)[1]
    for split in (bundle.train, bundle.val):
        for i in range(len(split)):
            assert split[i][0].shape == (3, 5, 6)
    note = "8 macOS resource files (._name beside a picture, not images) were skipped."
    assert note in bundle.info.notes and note in bundle.info.description


def _refusing(monkeypatch, unreadable):
    """os.scandir as on a folder with no read permission (chmod 000 does not bite root, who runs these)."""
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) == os.path.abspath(unreadable):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)


def _denied(folder) -> str:
    return f"The folder {folder} cannot be read (permission denied): make it readable or move it out of the " \
           "image folder."


def test_an_unreadable_class_folder_is_named_up_front(tmp_path, monkeypatch):
    class_folder(tmp_path, {"cats": 3, "dogs": 3})
    _refusing(monkeypatch, tmp_path / "dogs")       # it said "hold no images" once the run had started
    with pytest.raises(DataError) as info:
        dataset_info("image-folder", path=str(tmp_path))
    assert str(info.value) == _denied(tmp_path / "dogs")


def test_an_unreadable_folder_deep_in_a_class_is_named_not_skipped(tmp_path, monkeypatch):
    """cats/ has 40 readable pictures on top (more than the size sample reads) and more in batch2/, which cannot
    be read: it was skipped in silence and the run trained without them."""
    class_folder(tmp_path, {"cats": 40, "dogs": 3})
    class_folder(tmp_path / "cats", {"batch2": 5})
    _refusing(monkeypatch, tmp_path / "cats" / "batch2")
    dataset_info("image-folder", path=str(tmp_path))          # the sample does not reach it ...
    with pytest.raises(DataError) as info:                      # ... the listing does
        load_dataset("image-folder", path=str(tmp_path))
    assert str(info.value) == _denied(tmp_path / "cats" / "batch2")


def test_an_unreadable_image_folder_itself_is_named(tmp_path, monkeypatch):
    class_folder(tmp_path, {"cats": 1, "dogs": 1})
    _refusing(monkeypatch, tmp_path)
    with pytest.raises(DataError) as info:
        dataset_info("image-folder", path=str(tmp_path))
    assert str(info.value) == _denied(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_a_folder_without_read_permission_is_named(tmp_path):
    class_folder(tmp_path, {"cats": 3, "dogs": 3})
    os.chmod(tmp_path / "dogs", 0)
    try:
        with pytest.raises(DataError) as info:
            dataset_info("image-folder", path=str(tmp_path))
    finally:
        os.chmod(tmp_path / "dogs", 0o755)
    assert str(info.value) == _denied(tmp_path / "dogs")


def test_an_unreadable_picture_says_to_make_it_readable(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from layerloom.runtime.data.image_folder import read_image
    picture(tmp_path / "x.png")
    real = PILImage.open

    def refusing(fp, *args, **kwargs):
        if os.fspath(fp) == str(tmp_path / "x.png"):
            raise PermissionError(13, "Permission denied", os.fspath(fp))
        return real(fp, *args, **kwargs)
    monkeypatch.setattr(PILImage, "open", refusing)
    with pytest.raises(DataError) as info:
        read_image(tmp_path / "x.png")
    assert str(info.value) == (f"The image {tmp_path / 'x.png'} cannot be read (permission denied): make it "
                               "readable or move it out of the folder.")
