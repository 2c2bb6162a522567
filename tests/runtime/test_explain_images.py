"""`layerloom explain --image`: pictures of every kind reach the model as the data set would read them."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.explain_subject import load_subject

tv_io = pytest.importorskip("torchvision.io")


@pytest.fixture(scope="module")
def lenet():
    return load_subject(preset_path("lenet5"))


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_a_16_bit_grey_image_keeps_its_grey_levels(lenet, tmp_path):
    levels = (np.arange(28 * 28).reshape(28, 28) * 80).astype(np.uint16)     # 0 … 62,640 of 65,535
    path = tmp_path / "deep.png"
    Image.fromarray(levels).save(path)
    raw, _ = lenet.image_file(path)
    decoded = tv_io.decode_image(str(path), mode=tv_io.ImageReadMode.UNCHANGED)
    assert decoded.dtype == torch.uint16
    reference = decoded.to(torch.float32) / 65535.0
    torch.testing.assert_close(raw[0], reference, atol=1 / 255, rtol=0)


def test_an_image_too_large_to_read_safely_is_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)       # a 28×28 picture is then over twice the limit
    path = tmp_path / "big.png"
    Image.new("L", (28, 28)).save(path)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    out = tmp_path / "x.png"
    assert main(["explain", str(preset_path("lenet5")), "--image", str(path), "--method", "saliency",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "big.png has more pixels than Pillow reads safely" in err and "shrink" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "1", "I;16"])
def test_every_picture_mode_explains(lenet, tmp_path, mode):
    path = tmp_path / ("x.tiff" if mode == "CMYK" else "x.png")
    Image.new(mode, (1, 1)).save(path)
    raw, x = lenet.image_file(path)
    assert raw.shape == (1, *lenet.input_shape) and x.shape == raw.shape and torch.isfinite(x).all()


@pytest.mark.parametrize("option, value, words", [
    ("--window", "40", "the occlusion window (40×40) must fit the 28×28 input: give a window of 1 to 28 pixels"),
    ("--window", "0", "the occlusion window (0×0) must fit the 28×28 input: give a window of 1 to 28 pixels"),
    ("--stride", "0", "the occlusion stride (0×0) must be at least 1 pixel: give a stride of 1 or more")])
def test_an_occlusion_window_or_stride_that_cannot_work_says_which_and_what_fits(lenet, tmp_path, capsys, option,
                                                                                 value, words):
    assert lenet.input_shape[1:] == (28, 28)
    out = tmp_path / "x.png"
    assert main(["explain", str(preset_path("lenet5")), "--sample", "0", "--method", "occlusion", option, value,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"layerloom explain: {words}\n" in err and not out.exists()


def test_class_names_cut_short_in_the_picture_still_read_apart(lenet, monkeypatch):
    from PIL import ImageDraw

    from layerloom.runtime import explain as E
    from layerloom.runtime.heatmaps import explanation_image
    names = [f"handwritten digit {i}" for i in range(10)]
    raw, x, label = lenet.sample(0)
    e = E.explain(lenet.model, x, "saliency", class_names=names)
    written = []
    real = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *a, **k: written.append(text) or
                        real(self, xy, text, *a, **k))
    explanation_image(raw[0].numpy(), e, names, label=label)
    top5 = [p["name"] for p in e.prediction]
    shown = [t for t in written if "…" in t and t != "…"]
    assert len(shown) == 5 and len(set(shown)) == 5              # the top-5: names alike for 17 characters differ
    for name, t in zip(top5, shown):
        assert len(t) <= 12 and re.fullmatch(".*".join(re.escape(part) for part in t.split("…")), name), (t, name)


def test_names_alike_at_both_ends_show_where_they_differ():
    from layerloom.runtime.heatmaps import distinct_cuts
    names = ["class number 1 of the set", "class number 2 of the set", "cat", "class number 1 of the set"]
    shown = distinct_cuts(names, 12)
    assert shown[2] == "cat" and shown[0] == shown[3] and len(set(shown)) == 3
    assert all(len(t) <= 12 for t in shown) and "1" in shown[0] and "2" in shown[1]
