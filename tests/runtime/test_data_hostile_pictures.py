"""Pictures that mislead a folder's description or its reading: a first picture unlike the rest, phone photos
stored sideways with an EXIF orientation, pictures between Pillow's warning and error limits. Compared with what
PIL itself says of the same files."""
import warnings

import numpy as np
import pytest
from PIL import Image, ImageOps

from layerloom.runtime.data import DataError, dataset_info, load_dataset
from layerloom.runtime.data.image_folder import read_image


def picture(path, size, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def pil_sizes(folder):
    """(height, width) of every picture, as PIL reads them."""
    return {p.relative_to(folder).as_posix(): Image.open(p).size[::-1] for p in folder.rglob("*.png")}


def test_a_large_first_picture_does_not_hide_that_the_others_would_be_enlarged(tmp_path):
    """cats/0.png is 40×40, every other picture 6×6, the Input 8×8: judged from the first file the set said 8×8
    and enlarged the other nine silently, against the rule that only the size setting enlarges."""
    picture(tmp_path / "cats" / "0.png", (40, 40))
    for cls in ("cats", "dogs"):
        for i in range(1, 6):
            picture(tmp_path / cls / f"{i}.png", (6, 6), seed=i)
    sizes = pil_sizes(tmp_path)
    smallest = (min(h for h, _ in sizes.values()), min(w for _, w in sizes.values()))
    info = dataset_info("image-folder", path=str(tmp_path), input_shape=(3, 8, 8))
    assert info.sample_shape == (3, *smallest) == (3, 6, 6)
    assert info.notes == ("The images differ in size (of the 11 read to judge it, from 6×6, cats/1.png, to 40×40): "
                          "each is resized to 6×6, so that none is enlarged; the size data setting chooses another "
                          "size.",)
    assert info.notes[0] in info.description
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(3, 8, 8))
    assert {tuple(bundle.train[i][0].shape) for i in range(len(bundle.train))} == {(3, 6, 6)}


def test_a_tiny_first_picture_is_named_where_the_set_is_described(tmp_path):
    picture(tmp_path / "cats" / "0.png", (1, 1))
    for cls in ("cats", "dogs"):
        for i in range(1, 4):
            picture(tmp_path / cls / f"{i}.png", (12, 10), seed=i)
    info = dataset_info("image-folder", path=str(tmp_path), input_shape=(3, 8, 8))
    assert info.sample_shape == (3, 1, 1)            # never enlarged silently: the size setting resizes them
    assert "from 1×1, cats/0.png, to 10×12" in info.notes[0]
    resized = dataset_info("image-folder", path=str(tmp_path), input_shape=(3, 8, 8), size=8)
    assert resized.sample_shape == (3, 8, 8) and "each is resized to 8×8 (the size setting)" in resized.notes[0]


def test_pictures_of_one_size_get_no_note(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(3):
            picture(tmp_path / cls / f"{i}.png", (9, 7), seed=i)
    info = dataset_info("image-folder", path=str(tmp_path), input_shape=(3, 4, 4))
    assert info.sample_shape == (3, 4, 4) and info.notes == ()


def test_the_size_sample_is_bounded_spread_over_the_classes_and_the_same_each_time(tmp_path, monkeypatch):
    from layerloom.runtime.data import folder_layout
    classes = [f"c{i:03d}" for i in range(100)]
    for cls in classes:
        for i in range(2):
            picture(tmp_path / cls / f"{i}.png", (2, 2))
    read = []
    real = folder_layout.image_size
    monkeypatch.setattr(folder_layout, "image_size", lambda path: read.append(path) or real(path))
    dataset_info("image-folder", path=str(tmp_path))
    first = list(read)
    read.clear()
    dataset_info("image-folder", path=str(tmp_path))
    assert read == first and len(first) == folder_layout.SAMPLE_IMAGES
    sampled = sorted({p.parent.name for p in first})
    assert len(sampled) == 64 and sampled[0] == "c000" and sampled[-1] == "c098"


def _sideways(path, orientation, size=(12, 8)):
    """A JPEG stored `size` (width, height) with an EXIF orientation, as a phone writes it."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, : size[0] // 3] = (255, 0, 0)
    pixels[: size[1] // 2, :, 2] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photo_is_read_upright_as_pil_turns_it(tmp_path, orientation):
    path = tmp_path / "photo.jpg"
    _sideways(path, orientation)
    upright = ImageOps.exif_transpose(Image.open(path))
    got = read_image(path)
    assert got.size == upright.size
    np.testing.assert_array_equal(np.asarray(got), np.asarray(upright))


def test_a_folder_of_sideways_photos_trains_on_them_upright(tmp_path):
    files = [tmp_path / cls / f"{i}.jpg" for cls in ("cats", "dogs") for i in range(3)]
    for path in files:
        _sideways(path, 6)                         # stored 12 wide, 8 high; shown 8 wide, 12 high
    info = dataset_info("image-folder", path=str(tmp_path))
    assert info.sample_shape == (3, 12, 8)
    bundle = load_dataset("image-folder", path=str(tmp_path), val_fraction=0.5)
    folder = bundle.train.dataset
    for index, (path, _) in enumerate(folder.samples):
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"), np.float32) / 255
        np.testing.assert_allclose(folder[index][0].permute(1, 2, 0).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("side", [12, 15])      # 144 pixels: Pillow only warns; 225: Pillow refuses (over 2 × 100)
def test_a_picture_over_the_limit_is_refused_in_one_sentence_not_a_warning(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "cats" / "big.png"
    picture(path, (side, side))
    if side == 12:
        with pytest.warns(Image.DecompressionBombWarning):    # what Pillow does with it on its own
            Image.open(path).close()
    expected = f"The image {path} has more pixels than Pillow reads safely (at most 100): shrink or remove it."
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as info:
            read_image(path)
    assert str(info.value) == expected
    assert not [w for w in said if issubclass(w.category, Image.DecompressionBombWarning)]
    picture(tmp_path / "dogs" / "small.png", (5, 5))           # big.png is the folder's first picture
    with pytest.raises(DataError) as described:
        dataset_info("image-folder", path=str(tmp_path))
    assert str(described.value) == expected
