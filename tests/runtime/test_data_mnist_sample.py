"""The shipped MNIST sample: counts, split, labels and pixels that look like digits."""

import numpy as np
import pytest
import torch

from layerloom.runtime.data import DataError, InMemorySplit, dataset_info, load_dataset
from layerloom.runtime.data.mnist_sample import NPZ_PATH


@pytest.fixture(scope="module")
def bundle():
    return load_dataset("mnist-sample")


def test_npz_ships_in_the_package_and_is_small():
    assert NPZ_PATH.is_file()
    assert NPZ_PATH.stat().st_size < 1_500_000
    with np.load(NPZ_PATH, allow_pickle=False) as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (5000, 28, 28)
        assert npz["labels"].dtype == np.uint8 and npz["labels"].shape == (5000,)
        assert int(npz["num_train"]) == 4000


def test_split_is_4000_train_1000_val_stratified(bundle):
    assert isinstance(bundle.train, InMemorySplit) and isinstance(bundle.val, InMemorySplit)
    assert len(bundle.train) == 4000 and len(bundle.val) == 1000
    assert bundle.train.class_counts(10).tolist() == [400] * 10
    assert bundle.val.class_counts(10).tolist() == [100] * 10
    everything = torch.cat([bundle.train.labels, bundle.val.labels])
    assert torch.bincount(everything).tolist() == [500] * 10
    assert bundle.train.labels.dtype == torch.int64


def test_split_is_shuffled_not_sorted(bundle):
    first = bundle.train.labels[:50]
    assert len(torch.unique(first)) >= 8


def test_split_is_fixed_whatever_the_seed():
    a, b = load_dataset("mnist-sample", seed=0), load_dataset("mnist-sample", seed=123)
    assert torch.equal(a.train.images, b.train.images)
    assert torch.equal(a.val.labels, b.val.labels)


def test_no_image_is_both_in_train_and_val(bundle):
    train = {bytes(img.numpy()) for img in bundle.train.images}
    val = {bytes(img.numpy()) for img in bundle.val.images}
    assert len(train & val) == 0


def test_samples_are_float_in_unit_range_with_int64_labels(bundle):
    x, y = bundle.train[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
    assert y.dtype == torch.int64 and 0 <= int(y) <= 9
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    xb, yb = bundle.train.batch(torch.tensor([0, 5, 7]))
    assert xb.shape == (3, 1, 28, 28) and xb.dtype == torch.float32
    assert torch.equal(xb[0], x) and torch.equal(yb, bundle.train.labels[[0, 5, 7]])


def test_pixels_look_like_mnist_digits(bundle):
    x = bundle.train.images.to(torch.float32) / 255
    y = bundle.train.labels
    # MNIST: black background, white strokes, overall mean about 0.13.
    assert 0.09 < float(x.mean()) < 0.17
    assert float(x[:, :, 0, :].mean()) < 0.01              # the top row is background
    mean_zero, mean_one = x[y == 0].mean(0), x[y == 1].mean(0)
    # A "1" is a thin vertical stroke: less ink than a "0" and an empty centre-left ring area.
    assert float(mean_one.sum()) < 0.7 * float(mean_zero.sum())
    assert float((mean_zero - mean_one).abs().mean()) > 0.05
    # the "0" has a hole: its centre is darker than its ring
    assert float(mean_zero[0, 14, 14]) < float(mean_zero[0, 14, 8])


def test_info_matches_the_data(bundle):
    info = dataset_info("mnist-sample")
    assert bundle.info == info
    assert info.sample_shape == bundle.train.sample_shape == (1, 28, 28)
    assert info.num_classes == 10 and info.class_names == tuple("0123456789")
    assert info.mean == (0.1307,) and info.std == (0.3081,)
    assert not info.needs_download


def test_train_count_keeps_a_balanced_prefix_and_all_validation_digits():
    full = load_dataset("mnist-sample")
    small = load_dataset("mnist-sample", train_count=500)
    assert len(small.train) == 500 and len(small.val) == len(full.val) == 1000
    assert torch.bincount(small.train.labels, minlength=10).tolist() == [50] * 10
    # the kept digits are real training digits, in their original order
    first = small.train.images[0]
    assert any(torch.equal(first, img) for img in full.train.images[:20])
    seq = load_dataset("seq-mnist", train_count=30)
    assert seq.train.images.shape == (30, 28, 28)
    for bad in (5, 4001, 12.5, True):
        with pytest.raises(DataError, match="train_count=.* does not fit: give a whole number from 10 to 4,000"):
            load_dataset("mnist-sample", train_count=bad)
