"""Your own images: tiny PNGs in class subfolders, through load_dataset("image-folder")."""

import numpy as np
import pytest
import torch
from PIL import Image

from layerloom.runtime.data import DataError, InMemorySplit, dataset_info, load_dataset

COLOURS = {"cats": (220, 30, 30), "dogs": (30, 30, 220), "fish": (30, 200, 30)}


def write_images(folder, per_class, classes=("cats", "dogs"), size=(12, 10)):
    for cls in classes:
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            array = np.full((size[1], size[0], 3), COLOURS[cls], dtype=np.uint8)
            array[0, 0] = (i * 10) % 256                      # make each image unique
            Image.fromarray(array).save(folder / cls / f"{cls}_{i}.png")


def test_random_split_resizes_and_converts(tmp_path):
    write_images(tmp_path, per_class=5)
    # 12×10 images are never enlarged to a 16×16 Input silently: they keep their size ...
    assert dataset_info("image-folder", path=str(tmp_path), input_shape=(1, 16, 16)).sample_shape == (1, 10, 12)
    # ... unless the size data setting resizes them
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(1, 16, 16), seed=3, size=16)
    assert not isinstance(bundle.train, InMemorySplit)
    assert len(bundle.train) == 8 and len(bundle.val) == 2         # 80/20 of each class
    labels = [int(bundle.val[i][1]) for i in range(len(bundle.val))]
    assert sorted(labels) == [0, 1]                                 # stratified: one per class
    x, y = bundle.train[0]
    assert x.shape == (1, 16, 16) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert bundle.info.class_names == ("cats", "dogs") and bundle.info.num_classes == 2
    assert bundle.info.sample_shape == (1, 16, 16)
    pixels = torch.stack([bundle.train[i][0] for i in range(len(bundle.train))])
    assert bundle.info.mean == pytest.approx((float(pixels.mean()),), abs=1e-5)   # the training split's own
    assert bundle.info.std == pytest.approx((float(pixels.std(unbiased=False)),), abs=1e-5)


def test_labels_follow_the_folders_and_rgb_is_kept(tmp_path):
    write_images(tmp_path, per_class=4, classes=("cats", "dogs", "fish"))
    bundle = load_dataset("image-folder", path=tmp_path, input_shape=(3, 8, 8))
    for i in range(len(bundle.train)):
        x, y = bundle.train[i]
        red, green, blue = (float(c) for c in x[:, 4, 4])
        expected = {0: red, 1: blue, 2: green}[int(y)]
        assert expected > 0.7 and min(red, green, blue) < 0.2


def test_split_is_seeded(tmp_path):
    write_images(tmp_path, per_class=10)

    def val_files(seed):
        val = load_dataset("image-folder", path=tmp_path, seed=seed).val
        return sorted(val.dataset.samples[i][0] for i in val.indices)

    assert val_files(1) == val_files(1)
    assert any(val_files(1) != val_files(s) for s in (2, 3, 4))
    assert len(val_files(1)) == 4


def test_train_and_val_subfolders_are_used_as_given(tmp_path):
    write_images(tmp_path / "train", per_class=3, classes=("cats", "dogs", "fish"))
    write_images(tmp_path / "val", per_class=2, classes=("dogs", "fish"))
    bundle = load_dataset("image-folder", path=tmp_path, input_shape=(3, 10, 12))
    assert len(bundle.train) == 9 and len(bundle.val) == 4
    assert bundle.info.class_names == ("cats", "dogs", "fish")
    # "dogs" keeps index 1 in val even though val has no "cats" folder
    val_labels = sorted(int(bundle.val[i][1]) for i in range(len(bundle.val)))
    assert val_labels == [1, 1, 2, 2]


def test_without_input_shape_the_first_image_sets_the_size(tmp_path):
    write_images(tmp_path, per_class=2, size=(20, 14))
    info = dataset_info("image-folder", path=str(tmp_path))
    assert info.sample_shape == (3, 14, 20)
    assert load_dataset("image-folder", path=tmp_path).train[0][0].shape == (3, 14, 20)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist.*one subfolder per class"):
        load_dataset("image-folder", path=tmp_path / "nowhere")
    with pytest.raises(DataError, match="No image folder is chosen"):
        load_dataset("image-folder")


def test_folder_without_class_subfolders(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match="no class subfolders"):
        load_dataset("image-folder", path=tmp_path)


def test_class_subfolders_without_images(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="hold no images"):
        load_dataset("image-folder", path=tmp_path)


def test_one_empty_class_is_named(tmp_path):
    write_images(tmp_path, per_class=2)
    (tmp_path / "birds").mkdir()
    with pytest.raises(DataError, match="birds"):
        load_dataset("image-folder", path=tmp_path, input_shape=(3, 8, 8))


def test_a_single_class_is_refused(tmp_path):
    write_images(tmp_path, per_class=3, classes=("cats",))
    with pytest.raises(DataError, match="at least two"):
        load_dataset("image-folder", path=tmp_path)


def test_val_fraction_out_of_range(tmp_path):
    write_images(tmp_path, per_class=3)
    with pytest.raises(DataError, match="val_fraction"):
        load_dataset("image-folder", path=tmp_path, val_fraction=1.5)
