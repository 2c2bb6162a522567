"""The generated shapes set: geometry, determinism, balance, and that a small CNN can learn it."""

import pytest
import torch
from torch import nn

from layerloom.runtime.data import DataError, InMemorySplit, dataset_info, load_dataset
from layerloom.runtime.data.shapes import CLASSES, generate


def test_default_geometry_and_counts():
    bundle = load_dataset("shapes", train_count=120, val_count=60)
    assert isinstance(bundle.train, InMemorySplit)
    assert bundle.train.images.shape == (120, 3, 32, 32)
    assert bundle.train.images.dtype == torch.uint8
    assert len(bundle.val) == 60
    assert bundle.info.num_classes == len(CLASSES) == 10     # as many as the image presets' outputs
    assert bundle.train.class_counts(len(CLASSES)).tolist() == [12] * len(CLASSES)
    x, y = bundle.train[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64


def test_follows_the_input_shape():
    info = dataset_info("shapes", input_shape=(1, 48, 40), train_count=12, val_count=6)
    assert info.sample_shape == (1, 48, 40) and info.mean == (info.mean[0],)
    bundle = load_dataset("shapes", input_shape=(1, 48, 40), train_count=12, val_count=6)
    assert bundle.train.images.shape == (12, 1, 48, 40)
    assert bundle.info == info


def test_size_and_channels_options():
    info = dataset_info("shapes", size=20, channels=1)
    assert info.sample_shape == (1, 20, 20)
    bundle = load_dataset("shapes", size=20, channels=1, train_count=6, val_count=6)
    assert bundle.val.images.shape == (6, 1, 20, 20)


def test_same_seed_same_tensors_other_seed_other_tensors():
    a = load_dataset("shapes", seed=7, train_count=30, val_count=12)
    b = load_dataset("shapes", seed=7, train_count=30, val_count=12)
    c = load_dataset("shapes", seed=8, train_count=30, val_count=12)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert not torch.equal(a.train.images[:12], a.val.images)   # separate streams


def test_figure_stands_out_from_the_background():
    x, y = generate(60, channels=3, size=32, seed=1)
    x = x.float() / 255
    # the brightest and darkest quarter of each image differ clearly: a figure is drawn
    flat = x.mean(1).flatten(1).sort(dim=1).values
    contrast = flat[:, -100:].mean(1) - flat[:, :100].mean(1)
    assert float(contrast.min()) > 0.2


def test_figures_have_the_expected_area_order():
    """A ring or a star covers less than a circle, a triangle less than a square."""
    x, y = generate(600, channels=1, size=48, seed=2)
    x = x.float() / 255
    background = x[:, 0, 0, 0].view(-1, 1, 1, 1)
    ink = ((x - background).abs() > 0.2).float().mean((1, 2, 3))
    area = {name: float(ink[y == k].mean()) for k, name in enumerate(CLASSES)}
    assert area["ring"] < area["circle"]
    assert area["triangle"] < area["square"]
    assert area["star"] < area["circle"]
    assert area["crescent"] < area["semicircle"] < area["circle"]
    assert area["ellipse"] < area["circle"] and area["hourglass"] < area["square"]


def test_bad_options_are_data_errors():
    with pytest.raises(DataError, match="1 \\(grayscale\\) or 3 \\(RGB\\)"):
        dataset_info("shapes", channels=2)
    with pytest.raises(DataError, match="between 8 and"):
        dataset_info("shapes", size=4)
    with pytest.raises(DataError, match="train_count"):
        load_dataset("shapes", train_count=0)


@pytest.mark.parametrize("name", ["shapes", "figures"])
@pytest.mark.parametrize("option, value", [("train_count", "x"), ("train_count", 2.7), ("val_count", True),
                                           ("val_count", -1), ("train_count", 10 ** 12)])
def test_counts_are_checked_where_the_set_is_described(name, option, value):
    """A count the loader would refuse (or cut: 2.7 was read as 2) is refused by the description,
    which commands check before any work; "x" once failed inside the text ("Cannot specify ','...")."""
    with pytest.raises(DataError, match=f"^{option}=.* does not fit: give a whole number from 1 to 10,000,000"):
        dataset_info(name, **{option: value})
    with pytest.raises(DataError, match=f"^{option}="):
        load_dataset(name, size=8, **{option: value})
    info = dataset_info(name, train_count="36", val_count=24.0)     # as a hand-written graph may hold them
    assert "36 for training and 24 for validation" in info.description


def test_a_small_cnn_learns_it_quickly():
    torch.manual_seed(0)
    bundle = load_dataset("shapes", input_shape=(1, 24, 24), train_count=1500, val_count=300)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
        nn.Flatten(), nn.Linear(32, len(CLASSES)),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    mean, std = bundle.info.mean[0], bundle.info.std[0]
    for epoch in range(5):
        order = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(epoch))
        for start in range(0, len(order), 32):
            x, y = bundle.train.batch(order[start:start + 32])
            loss = nn.functional.cross_entropy(net((x - mean) / std), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        x, y = bundle.val.batch(torch.arange(len(bundle.val)))
        accuracy = float((net((x - mean) / std).argmax(1) == y).float().mean())
    assert accuracy > 0.5          # chance is 1/10
