"""Image-folder throughput: Layerloom's loader against torchvision's ImageFolder + DataLoader.

A folder of PNGs (written once into a temporary folder: 3 classes, sizes that all need a resize) is
read for whole epochs, batch 64, by
  - Layerloom: the `image-folder` data set through `runtime/batches.epoch_batches` with the worker
    count the trainer chooses (`loader_workers()`), the batches the trainer draws;
  - torchvision: `ImageFolder(transform=Compose([Grayscale or RGB, Resize, ToTensor()]))` +
    `DataLoader(batch_size=64, shuffle=True, num_workers=N)`, N the same worker count.
The same transforms (convert, bilinear resize, [0, 1] float tensor). The two alternate, several rounds,
in one run; the ratio is Layerloom's samples/s over torchvision's (goal >= 0.9). Timings on a shared
machine are noisy: the median of the rounds is printed with every round.
Run: .venv/bin/python bench/data.py [--images N] [--size S] [--rounds R] [--workers N]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def write_folder(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    classes = ("circles", "squares", "stripes")
    for c, cls in enumerate(classes):
        (folder / cls).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cls = classes[i % 3]
        w, h = 80 + 8 * (i % 5), 72 + 6 * (i % 4)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / cls / f"{i:05d}.png")


def layerloom_epoch(split, batch: int, workers: int, seed: int) -> int:
    from layerloom.runtime.batches import epoch_batches

    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    batches = [perm[i:i + batch] for i in range(0, len(perm), batch)]
    n = 0
    for x, _ in epoch_batches(split, batches, workers):
        n += len(x)
    return n


def torchvision_epoch(folder: Path, size: int, channels: int, batch: int, workers: int, seed: int) -> int:
    from torchvision import datasets, transforms

    convert = transforms.Grayscale(1) if channels == 1 else transforms.Lambda(lambda im: im.convert("RGB"))
    tf = transforms.Compose([convert, transforms.Resize((size, size)), transforms.ToTensor()])
    data = datasets.ImageFolder(str(folder), transform=tf)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(seed))
    n = 0
    for x, _ in loader:
        n += len(x)
    return n


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1500)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workers", type=int, default=None, help="worker processes for both (default: the trainer's choice)")
    args = p.parse_args()

    from layerloom.runtime.batches import available_cores, loader_workers
    from layerloom.runtime.data import load_dataset

    workers = loader_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pictures"
        write_folder(folder, args.images)
        bundle = load_dataset("image-folder", path=folder, size=args.size, val_fraction=0.001,
                              input_shape=(args.channels, args.size, args.size))
        # Layerloom reads its training split (all but a few images); torchvision reads every image:
        # compare samples per second.
        print(f"{args.images} PNGs (80-112 x 72-90 px) -> {args.channels}x{args.size}x{args.size}, batch {args.batch}, "
              f"{workers} worker(s) each, {available_cores()} core(s); machine may be loaded")
        layerloom_epoch(bundle.train, args.batch, workers, 0)        # warm the file cache for both
        ours, theirs = [], []
        for r in range(args.rounds):
            t = time.perf_counter()
            n = layerloom_epoch(bundle.train, args.batch, workers, r)
            ours.append(n / (time.perf_counter() - t))
            t = time.perf_counter()
            n = torchvision_epoch(folder, args.size, args.channels, args.batch, workers, r)
            theirs.append(n / (time.perf_counter() - t))
            print(f"round {r + 1}: layerloom {ours[-1]:8.0f} samples/s   torchvision {theirs[-1]:8.0f} samples/s   "
                  f"ratio {ours[-1] / theirs[-1]:.3f}")
        ratios = [a / b for a, b in zip(ours, theirs)]
        print(f"median: layerloom {statistics.median(ours):.0f} samples/s, torchvision {statistics.median(theirs):.0f} "
              f"samples/s, ratio {statistics.median(ratios):.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
