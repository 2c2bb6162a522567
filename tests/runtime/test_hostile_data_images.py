"""Hostile pictures and image-folder options: an L*a*b* TIFF, a mode Pillow cannot convert, a channels option
that is not 1 or 3. Each trains, explains or ends in a message that names the file or the value."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageCms

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.data import DataError, dataset_info, load_dataset
from layerloom.runtime.data.image_folder import ToSample

from .test_data_image_folder import write_images


def _lab_picture(path, size=(12, 10)):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.frombytes("LAB", size, pixels.tobytes())
    image.save(path)
    return image


def _srgb(image):
    """Pillow's colour-management module: L*a*b* to sRGB, the reference the picture is read against."""
    transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    return ImageCms.applyTransform(image, transform)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_lab_tiff_in_the_folder_is_read_as_its_srgb_colours(tmp_path, channels):
    write_images(tmp_path, per_class=3)
    lab = _lab_picture(tmp_path / "dogs" / "lab.tif")
    with pytest.raises(ValueError):          # what Pillow does with it on its own
        Image.open(tmp_path / "dogs" / "lab.tif").convert("L")
    reference = _srgb(lab)
    if channels == 1:
        reference = reference.convert("L")
    expected = np.asarray(reference, dtype=np.float32).reshape(10, 12, -1).transpose(2, 0, 1) / 255.0
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(channels, 10, 12), val_fraction=0.3)
    folder = bundle.train.dataset
    x, _ = folder[[str(p) for p, _ in folder.samples].index(str(tmp_path / "dogs" / "lab.tif"))]
    np.testing.assert_allclose(x.numpy(), expected, atol=1 / 255)


def test_explain_reads_a_lab_tiff_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "lab.tif"
    _lab_picture(path, (28, 28))
    out = tmp_path / "x.png"
    code = main(["explain", str(preset_path("lenet5")), "--image", str(path), "--method", "saliency",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and out.exists() and "Traceback" not in err, err


def test_a_mode_pillow_cannot_convert_names_the_picture():
    image = Image.new("La", (3, 3))
    with pytest.raises(ValueError):
        image.convert("L")
    with pytest.raises(DataError, match=r"^An image holds La mode, which Layerloom cannot turn into RGB "
                                        r"or grayscale: save it as an RGB image and choose it again\.$"):
        ToSample(1, (3, 3))(image)


@pytest.mark.parametrize("value", ["abc", [3], 2, True, "2", 0.5, None])
def test_a_channels_option_that_is_not_1_or_3_is_named(tmp_path, value):
    write_images(tmp_path, per_class=2)
    if value is None:
        assert dataset_info("image-folder", path=str(tmp_path)).sample_shape[0] == 3
        return
    with pytest.raises(DataError) as info:
        dataset_info("image-folder", path=str(tmp_path), channels=value)
    assert str(info.value) == f"channels={value!r} is not supported: use 1 (grayscale) or 3 (RGB)."


def test_channels_from_the_command_line_is_a_message(tmp_path, capsys):
    write_images(tmp_path, per_class=2)
    code = main(["train", str(preset_path("lenet5")), "--dataset", "image-folder", "--data", str(tmp_path),
                 "--data-option", "channels=abc", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == "layerloom train: channels='abc' is not supported: use 1 (grayscale) or 3 (RGB)."


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(value=st.one_of(st.text(max_size=8), st.integers(-5, 10), st.floats(allow_nan=True),
                       st.lists(st.integers(0, 4), max_size=3), st.booleans()))
def test_any_channels_value_is_read_or_named(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("f")
    write_images(folder, per_class=1)
    fits = (not isinstance(value, (bool, list)) and str(value).strip() in ("1", "3", "1.0", "3.0")
            and not (isinstance(value, str) and "." in value))
    try:
        shape = dataset_info("image-folder", path=str(folder), channels=value).sample_shape
    except DataError as exc:
        assert not fits and str(exc).startswith("channels=") and "use 1 (grayscale) or 3 (RGB)" in str(exc)
    else:
        assert fits and shape[0] == int(float(str(value)))
