"""build_transforms: shapes kept, normalisation exact, augmentation drawn per sample."""

import dataclasses

import pytest
import torch

from layerloom.runtime.data import DataError, build_transforms, dataset_info

CIFAR = dataset_info("cifar10")
MNIST = dataset_info("mnist-sample")


def test_nothing_to_do_gives_none():
    assert build_transforms(CIFAR, augment=None, normalize=False, train=True) is None
    assert build_transforms(CIFAR, augment={"hflip": True}, normalize=False, train=False) is None
    assert build_transforms(CIFAR, augment={"random_crop": 0, "rotation": 0, "hflip": False,
                                            "color_jitter": 0}, normalize=False, train=True) is None


@pytest.mark.parametrize("info", [CIFAR, MNIST], ids=["cifar10", "mnist-sample"])
def test_normalisation_is_x_minus_mean_over_std(info):
    t = build_transforms(info, augment=None, normalize=True, train=False)
    x = torch.rand(5, *info.sample_shape)
    mean = torch.tensor(info.mean).view(-1, 1, 1)
    std = torch.tensor(info.std).view(-1, 1, 1)
    assert torch.allclose(t(x), (x - mean) / std, atol=1e-6)
    assert torch.allclose(t(x[2]), (x[2] - mean) / std, atol=1e-6)


def test_validation_ignores_augmentation():
    augment = {"random_crop": 4, "hflip": True, "rotation": 15, "color_jitter": 0.4}
    t = build_transforms(CIFAR, augment=augment, normalize=True, train=False)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(t(x), t(x))                     # deterministic
    plain = build_transforms(CIFAR, augment=None, normalize=True, train=False)
    assert torch.allclose(t(x), plain(x))


def test_every_augmentation_keeps_the_shape():
    augment = {"random_crop": 4, "hflip": True, "rotation": 15, "color_jitter": 0.4}
    for info in (CIFAR, MNIST):
        t = build_transforms(info, augment=augment, normalize=True, train=True)
        batch = torch.rand(6, *info.sample_shape)
        out = t(batch)
        assert out.shape == batch.shape and out.dtype == torch.float32
        assert t(batch[0]).shape == info.sample_shape
        assert not torch.allclose(out, t(batch))       # random each call


def test_flip_is_drawn_per_sample_in_a_batch():
    torch.manual_seed(0)
    t = build_transforms(CIFAR, augment={"hflip": True}, normalize=False, train=True)
    image = torch.rand(3, 32, 32)
    out = t(image.expand(64, 3, 32, 32).clone())
    flipped = torch.tensor([torch.equal(o, image.flip(-1)) for o in out])
    kept = torch.tensor([torch.equal(o, image) for o in out])
    assert bool((flipped | kept).all())
    assert 10 < int(flipped.sum()) < 54


def test_random_crop_shifts_content_within_padding():
    torch.manual_seed(1)
    t = build_transforms(MNIST, augment={"random_crop": 2}, normalize=False, train=True)
    image = torch.zeros(1, 28, 28)
    image[0, 14, 14] = 1.0
    out = t(image.expand(32, 1, 28, 28).clone())
    positions = {tuple(torch.nonzero(o[0])[0].tolist()) for o in out}
    assert len(positions) > 1
    assert all(abs(r - 14) <= 2 and abs(c - 14) <= 2 for r, c in positions)


def test_resize_changes_the_spatial_size():
    t = build_transforms(CIFAR, augment={"hflip": True}, normalize=True, train=True,
                         resize=(64, 48))
    assert t(torch.rand(4, 3, 32, 32)).shape == (4, 3, 64, 48)
    v = build_transforms(CIFAR, augment=None, normalize=False, train=False, resize=64)
    assert v(torch.rand(3, 32, 32)).shape == (3, 64, 64)


def test_bad_augmentation_settings_are_data_errors():
    with pytest.raises(DataError, match="Unknown augmentation vflip"):
        build_transforms(CIFAR, augment={"vflip": True}, normalize=True, train=True)
    with pytest.raises(DataError, match="rotation"):
        build_transforms(CIFAR, augment={"rotation": 400}, normalize=True, train=True)
    with pytest.raises(DataError, match="hflip"):
        build_transforms(CIFAR, augment={"hflip": "yes"}, normalize=True, train=True)
    with pytest.raises(DataError, match="random_crop"):
        build_transforms(CIFAR, augment={"random_crop": 2.5}, normalize=True, train=True)


def test_token_sets_get_no_image_transforms():
    tokens = dataclasses.replace(MNIST, name="tokens", sample_shape=(40,), input_dtype="int64",
                                 mean=(), std=())
    assert build_transforms(tokens, augment=None, normalize=True, train=True) is None
    with pytest.raises(DataError, match="does not hold images"):
        build_transforms(tokens, augment={"hflip": True}, normalize=True, train=True)


def test_single_samples_go_through_torchvision_v2():
    torch.manual_seed(2)
    t = build_transforms(CIFAR, augment={"hflip": True}, normalize=False, train=True)
    image = torch.rand(3, 32, 32)
    outs = [t(image) for _ in range(40)]
    flips = sum(torch.equal(o, image.flip(-1)) for o in outs)
    assert 5 < flips < 35 and all(torch.equal(o, image) or torch.equal(o, image.flip(-1))
                                  for o in outs)
    assert "RandomHorizontalFlip" in repr(t)


def test_batched_rotation_is_exact_for_right_angles():
    from layerloom.runtime.data.batch_augment import rotate

    x = torch.rand(3, 2, 16, 16)
    out = rotate(x, torch.tensor([90.0, -90.0, 0.0]))
    assert torch.equal(out[0], torch.rot90(x[0], 1, (1, 2)))
    assert torch.equal(out[1], torch.rot90(x[1], -1, (1, 2)))
    assert torch.equal(out[2], x[2])
    wide = torch.rand(1, 1, 8, 12)
    assert torch.equal(rotate(wide, torch.tensor([180.0]))[0], wide[0].flip(1).flip(2))


def test_batched_rotation_draws_its_angle_per_sample():
    torch.manual_seed(3)
    t = build_transforms(MNIST, augment={"rotation": 45}, normalize=False, train=True)
    bar = torch.zeros(1, 28, 28)
    bar[0, 13:15, 4:24] = 1.0                              # a horizontal bar
    out = t(bar.expand(16, 1, 28, 28).clone())
    distinct = {bytes(o.numpy()) for o in out}
    assert len(distinct) > 8
    assert torch.allclose(out.sum((1, 2, 3)), bar.sum().expand(16), rtol=0.25)


def test_colour_jitter_keeps_grey_grey_and_stays_in_range():
    from layerloom.runtime.data.batch_augment import color_jitter

    torch.manual_seed(4)
    grey = torch.rand(8, 1, 1, 1).expand(8, 3, 6, 6).contiguous()
    out = color_jitter(grey, 0.8)
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5)
    assert torch.allclose(out[:, 1], out[:, 2], atol=1e-5)
    colour = torch.rand(8, 3, 6, 6)
    jittered = color_jitter(colour, 0.5)
    assert 0.0 <= float(jittered.min()) and float(jittered.max()) <= 1.0
    assert not torch.allclose(jittered, colour)
    assert torch.equal(color_jitter(colour, 0.0), colour)


def test_augmentation_settings_are_read_by_one_public_function():
    from layerloom.runtime.data.transforms import parse_augment
    assert parse_augment({"hflip": True, "rotation": 10, "random_crop": 4.0}) == \
        {"hflip": True, "rotation": 10.0, "random_crop": 4}
    assert parse_augment(None) == {}
    with pytest.raises(DataError, match="Unknown augmentation flip"):
        parse_augment({"flip": True})


def test_no_runtime_module_imports_another_modules_private_names():
    """A leading underscore says "only this module uses it": a name another module needs is made public."""
    import ast
    from pathlib import Path

    import layerloom.runtime as runtime
    found = []
    for path in Path(runtime.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("layerloom")):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")
                          and not a.name.startswith("__")]
    assert found == []


def test_normalisation_is_torchvisions_bit_for_bit():
    from torchvision.transforms import v2
    for info in (CIFAR, MNIST):
        ours = build_transforms(info, augment=None, normalize=True, train=True)
        theirs = v2.Normalize(list(info.mean), list(info.std))
        x = torch.rand(4, *info.sample_shape)
        before = x.clone()
        assert torch.equal(ours(x), theirs(x)) and torch.equal(ours(x[1]), theirs(x[1]))
        assert torch.equal(x, before)                           # the input is left as it was


NORMALISE_ONLY = """
import sys, torch
from layerloom.runtime.data import build_transforms, dataset_info
t = build_transforms(dataset_info("mnist-sample"), augment=None, normalize=True, train=True)
t(torch.rand(2, 1, 28, 28))
print("torchvision" in sys.modules)
"""


def test_normalising_alone_does_not_import_torchvision():
    # every `layerloom train` process (each sweep trial) would pay torchvision's import for two lines of arithmetic
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", NORMALISE_ONLY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"], out.stdout
