"""The text of a standalone project's train.py (plain PyTorch, DDP-ready)."""
from __future__ import annotations

import inspect
from string import Template

from ..data import mnist_sample, shapes
from . import project_images

# Every $field is a Python literal made by layerloom.graph.quoting (never pasted text), except
# $class_name (an identifier made by class_name_for) and $load_data (code built from literals).
_TRAIN = Template('''"""Train the network exported by Layerloom (GRAPH_NAME below): plain PyTorch.

    python train.py [--epochs N] [--max-steps N] [--batch-size N] [--lr X] [--device auto|cpu|cuda] [--data PATH]
    torchrun --nproc_per_node=2 train.py --epochs 1     # DistributedDataParallel (gloo on CPU, nccl on CUDA)

Under torchrun every process walks the same batches, each takes its share of every batch, and their gradients
are averaged: the steps are one process's steps, so without dropout, batch normalisation or augmentation
(which draw or count per process) the weights match one process's up to rounding. (A last batch too small
to give each process two samples is left out.)
"""
import argparse
import contextlib
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset

from model import $class_name as Network   # under a name of its own: the graph's name could be F or Path

HERE = Path(__file__).resolve().parent
GRAPH_NAME = $name
DATASET = $dataset
CONFIG = $config
INPUT_SHAPE = $input_shape
CLASS_NAMES = $class_names
MEAN = $mean      # per channel, of pixels scaled to [0, 1]; None: no normalisation
STD = $std
FROZEN = $frozen   # blocks whose weights (and normalisation statistics) training leaves as they are
UNUSED = $unused   # blocks whose results reach no output: no gradient reaches their weights
DISTILLED_FROM = $distilled   # the teacher the exported run distilled from (None: none); this script trains
#                               without a teacher, on the ordinary loss alone (see README.md)
CANNOT_TRAIN = $cannot_train   # why Layerloom would not train this graph on DATASET (None: it would; README.md)


def load_data(data=None):
    """(x_train, y_train, x_val, y_val): float tensors in [0, 1] and int64 labels. `data`: the folder
    of your own images (--data PATH), where the data set reads one."""
$load_data


def normalize(x):
    if MEAN is None:
        return x
    mean = torch.tensor(MEAN, device=x.device).view(1, -1, *([1] * (x.dim() - 2)))
    std = torch.tensor(STD, device=x.device).view(1, -1, *([1] * (x.dim() - 2)))
    return (x - mean) / std


def augment(x):
    """The run's augmentation, drawn per image: Layerloom's own (augment_data.py), the same
    crop, flip, rotation and colour jitter with the same ranges."""
    aug = {k: v for k, v in (CONFIG.get("augment") or {}).items() if v}
    if x.dim() != 4 or not aug:
        return x
    from augment_data import BatchAugment
    return BatchAugment(**aug)(x)


class RandomStream:
    """Dropout and augmentation draw from a sequence of their own, as in Layerloom: torch's default
    generator started from the run's seed, swapped in for each step and back out after it. Building the
    network (or anything else) drawing from the default generator then never changes which units drop
    or how images are flipped, so the losses match Layerloom's step for step."""

    def __init__(self, seed):
        self.state = torch.Generator().manual_seed(seed).get_state()

    @contextlib.contextmanager
    def drawing(self):
        outside = torch.get_rng_state()
        torch.set_rng_state(self.state)
        try:
            yield
        finally:
            self.state = torch.get_rng_state()
            torch.set_rng_state(outside)


class EpochBatches:
    """The batches of one process, in Layerloom's order: each epoch one torch.randperm from a generator
    seeded with the run's seed, cut into batches; a last batch smaller than `least` is left out: one sample
    in one process (batch normalisation cannot train on it), or too few to give each process two."""

    def __init__(self, x, y, batch_size, seed, least=2):
        self.x, self.y, self.batch_size, self.least = x, y, batch_size, min(least, batch_size)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        n, bs = len(self.x), self.batch_size
        return n // bs if n % bs and n % bs < self.least else math.ceil(n / bs)

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


def loss_fn(logits, y):
    if CONFIG["loss"] == "mse":
        return F.mse_loss(logits, F.one_hot(y, logits.shape[1]).to(logits.dtype))
    return F.cross_entropy(logits, y)


def share_loss(logits, y, batch, world):
    """This process's part of the loss of a batch of `batch` samples split over `world` processes: scaled so
    that the gradients DistributedDataParallel averages are the whole batch's (shares may differ by one)."""
    if CONFIG["loss"] == "mse":
        target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
        summed = F.mse_loss(logits, target, reduction="sum") / logits.shape[1]
    else:
        summed = F.cross_entropy(logits, y, reduction="sum")
    return summed * world / batch


def make_optimizer(params):
    if CONFIG["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=CONFIG["lr"], momentum=CONFIG["momentum"],
                               weight_decay=CONFIG["weight_decay"])
    cls = torch.optim.Adam if CONFIG["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=CONFIG["lr"], weight_decay=CONFIG["weight_decay"])


def make_scheduler(optimizer, total_steps, steps_per_epoch):
    kind = CONFIG["schedule"]
    if kind == "step":
        every = (CONFIG["step_size"] or max(1, CONFIG["epochs"] // 3)) * steps_per_epoch
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every, gamma=CONFIG["gamma"])
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=CONFIG["lr"], total_steps=max(2, total_steps))
    return None


def keep_eval(module, args):
    """A frozen block's batch norm keeps its running statistics: it runs in eval mode while the rest trains.
    (A forward pre-hook returns None: what it returns would replace the layer's input.)"""
    module.eval()


@torch.no_grad()
def evaluate(model, x, y, device, batch_size=512):
    model.eval()
    correct, total_loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = normalize(x[i:i + batch_size].to(device)), y[i:i + batch_size].to(device)
        logits = model(xb)
        total_loss += float(loss_fn(logits, yb)) * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
    model.train()
    return total_loss / len(x), correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--max-steps", type=int, default=CONFIG["max_steps"],
                        help="stop after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=CONFIG["batch_size"],
                        help="samples per step (under torchrun: over all processes)")
    parser.add_argument("--lr", type=float, default=CONFIG["lr"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--init", help="start from these weights (a state_dict .pt file)")
    parser.add_argument("--out", default=str(HERE / "checkpoints"))
    parser.add_argument("--data", metavar="PATH", help="the image folder (default: the copy in data/, if any)")
    args = parser.parse_args()
    if CANNOT_TRAIN and not args.data:
        raise SystemExit(f"train.py cannot train this graph on {DATASET}: {CANNOT_TRAIN} (see README.md)")
    CONFIG["lr"], CONFIG["epochs"] = args.lr, args.epochs     # a step schedule decays a third of the way

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        use_cuda = torch.cuda.is_available()
        dist.init_process_group("nccl" if use_cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
    else:
        rank, world = 0, 1
        name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(name)
    torch.manual_seed(CONFIG["seed"])

    model = Network()
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
    for block_id in FROZEN:
        frozen = getattr(model, block_id)
        frozen.requires_grad_(False)
        for sub in frozen.modules():
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
                sub.register_forward_pre_hook(keep_eval)
    if distributed:                 # DistributedDataParallel would wait for their gradients forever
        for block_id in UNUSED:
            getattr(model, block_id).requires_grad_(False)
    model.to(device)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \\
        if distributed else model

    x_train, y_train, x_val, y_val = load_data(args.data)
    if tuple(x_train.shape[1:]) != tuple(INPUT_SHAPE) and x_train[0].numel() == math.prod(INPUT_SHAPE):
        x_train, x_val = x_train.reshape(-1, *INPUT_SHAPE), x_val.reshape(-1, *INPUT_SHAPE)   # e.g. rows as steps
    train_set = TensorDataset(x_train, y_train)
    # the same batches in every process, never a share of one sample
    loader = EpochBatches(x_train, y_train, args.batch_size, CONFIG["seed"], least=2 * world)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    optimizer = make_optimizer([p for p in net.parameters() if p.requires_grad])
    scheduler = make_scheduler(optimizer, total_steps, steps_per_epoch)
    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        print(f"training on {len(train_set)} samples ({world} process(es), {device}), {steps_per_epoch} steps/epoch")
        if DISTILLED_FROM:
            print(f"note: the exported run distilled from the teacher {DISTILLED_FROM}; this script trains without "
                  "it, on the ordinary loss alone, so its losses are not that run's")

    step, started = 0, time.time()
    stream = RandomStream(CONFIG["seed"])
    for epoch in range(args.epochs):
        net.train()
        losses = []
        for xb, yb in loader:
            batch = len(yb)
            if distributed:               # this process's share of the batch
                xb, yb = xb.tensor_split(world)[rank], yb.tensor_split(world)[rank]
            with stream.drawing():
                xb, yb = normalize(augment(xb.to(device))), yb.to(device)
                if distributed:
                    loss = share_loss(net(xb), yb, batch, world)
                else:
                    loss = loss_fn(net(xb), yb)
            if distributed:                # the whole batch's loss, as one process reports it
                whole = loss.detach() / world
                dist.all_reduce(whole)
                losses.append(whole.item())
            else:
                losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                raise SystemExit(f"step {step + 1}: the loss became {losses[-1]}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if CONFIG["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(net.parameters(), CONFIG["grad_clip"])
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if rank == 0 and step % 50 == 0:
                print(f"epoch {epoch + 1} step {step}: loss {losses[-1]:.4f}")
            if step >= total_steps:
                break
        if rank == 0:
            val_loss, val_acc = evaluate(model, x_val, y_val, device)
            print(f"epoch {epoch + 1}: val loss {val_loss:.4f}, val accuracy {val_acc:.2%} "
                  f"({time.time() - started:.1f} s)")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                        "step": step, "losses": losses}, out / f"epoch-{epoch + 1}.pt")
        if distributed:
            dist.barrier()
        if step >= total_steps:
            break
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
''')


# The generated sets a project writes out as code: the module and its drawing function.
GENERATED = {"shapes": ("shapes_data", "generate"), "figures": ("figures_data", "generate_figures")}


def _indent(code: str) -> str:
    return "\n".join(("    " + line) if line.strip() else "" for line in code.strip("\n").splitlines())


def data_loader_code(dataset: str, cfg: dict, input_shape, torchvision_sets: dict, copied: bool = False) -> str:
    opts = cfg.get("dataset_options") or {}
    if dataset == "mnist-sample":
        count = mnist_sample.checked_train_count(opts.get("train_count"))    # as Layerloom reads it
        keep = ("keep = torch.arange(n)" if count is None else
                inspect.getsource(mnist_sample._balanced_first) + f"\n\nkeep = _balanced_first(y[:n], {count!r})")
        return _indent('''
with np.load(HERE / "data" / "mnist_sample.npz", allow_pickle=False) as npz:
    images, labels, n = npz["images"], npz["labels"], int(npz["num_train"])
x = torch.from_numpy(images).unsqueeze(1).float() / 255
y = torch.from_numpy(labels.astype(np.int64))
''' + keep + '''
return x[keep], y[keep], x[n:], y[n:]
''')
    if dataset in GENERATED:
        c, h, w = input_shape
        n_train, n_val = shapes.counts(opts.get("train_count", shapes.DEFAULT_TRAIN),   # as Layerloom reads them
                                       opts.get("val_count", shapes.DEFAULT_VAL))
        seed = int(cfg.get("seed", 0))
        module, draw = GENERATED[dataset]
        return _indent(f'''
import {module}
from shapes_data import _stream_seed
x_tr, y_tr = {module}.{draw}({n_train}, channels={c}, size=({h}, {w}), seed=_stream_seed({seed}, "train", {dataset!r}))
x_va, y_va = {module}.{draw}({n_val}, channels={c}, size=({h}, {w}), seed=_stream_seed({seed}, "val", {dataset!r}))
return x_tr.float() / 255, y_tr, x_va.float() / 255, y_va
''')
    if dataset == "image-folder":
        return _indent(project_images.loader_code(copied, opts))
    cls = torchvision_sets[dataset]
    return _indent(f'''
from torchvision import datasets
root = os.environ.get("DATA_ROOT", str(HERE / "data"))
train = datasets.{cls}(root, train=True, download=True)
val = datasets.{cls}(root, train=False, download=True)

def tensors(ds):
    x = torch.as_tensor(np.asarray(ds.data))
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return x.float() / 255, torch.as_tensor(ds.targets, dtype=torch.int64)
return (*tensors(train), *tensors(val))
''')


class _Formatter:
    @staticmethod
    def format(**kw) -> str:
        return _TRAIN.substitute(**kw)


TRAIN_TEMPLATE = _Formatter()
