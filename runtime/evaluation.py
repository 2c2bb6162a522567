"""A run's own data for judging a changed model: the validation split and calibration samples.

Quantized exports, pruning and the latency report compare a model before and after on the same
samples the run was validated on, transformed exactly as the trainer transformed them (its
normalisation, no augmentation). The samples are read a batch at a time, so a large split (thousands
of photos) never sits in memory whole; a small one is kept after its first pass (KEEP_BYTES).

    data = evaluation_data(run_config, input_shape=(1, 28, 28), class_names=meta["class_names"])
    acc = data.accuracy(lambda x: model(x))

`check_classes` is the one check that a data set still has the classes a run trained on (bench, int8
export, pruning, ensembles, explanations and resuming all call it): a class folder added, removed or
renamed since would make every class number mean another class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from layerloom.graph.quoting import shown

from .batches import gather
from .data import DataError, build_transforms, load_dataset
from .data.base import format_shape

READ_BATCH = 128                 # samples read (decoded and transformed) at once
KEEP_BYTES = 64 * 2 ** 20        # a judged split at most this large is kept after its first pass
TIMING_SAMPLES = 64              # what a latency measurement repeats its inputs from (a pool, not the split)
NAMES_SHOWN = 8                  # class names a message lists before "and N more"


class ClassesChanged(DataError):
    """The data set's classes are not those the run trained on; the message names what changed."""


def _names(names, limit: int = NAMES_SHOWN) -> str:
    said = ", ".join(shown(n, 60) for n in names[:limit])
    return said + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _listing(names) -> str:
    """'a, b, c', or for a long list '1,500 classes: class0000, ... and 1,492 more'."""
    return _names(names) if len(names) <= NAMES_SHOWN else f"{len(names):,} classes: {_names(names)}"


def trained_classes(names) -> list[str]:
    """A run's class names without the "output N" names an export adds for outputs past the data set's
    classes (export/source.complete_class_names): the classes the data set gave when the run trained."""
    names = [str(n) for n in (names or [])]
    while names and names[-1] == f"output {len(names) - 1}":
        names.pop()
    return names


def classes_problem(trained, now, dataset: str = "", who: str = "the run") -> str | None:
    """What differs between the classes a run trained on (`trained`) and the data set's now (`now`), as a
    clause ("the run trained on classes a, b, c; the folder now has 0extra, a, b, c (0extra added)"),
    or None when they are the same. Sets without class names (none recorded, or none given now) pass."""
    trained, now = trained_classes(trained), [str(n) for n in (now or [])]
    if not trained or not now or trained == now:
        return None
    had, has = set(trained), set(now)
    added, missing = [n for n in now if n not in had], [n for n in trained if n not in has]
    change = "; ".join([f"{_names(added)} added"] * bool(added) + [f"{_names(missing)} missing"] * bool(missing)) \
        or "the same classes in another order"
    where = "the folder" if dataset == "image-folder" else dataset or "the data set"
    return (f"{who} trained on classes {_listing(trained)}; {where} now has {_listing(now)} ({change})")


def check_classes(trained, info, advice: str = "results measured on it would be wrong: put the data set back as it "
                                               "was, or train a new run on it") -> None:
    """Raise ClassesChanged (a DataError) when the data set described by `info` no longer has the classes
    `trained` a run trained on."""
    problem = classes_problem(trained, getattr(info, "class_names", ()), getattr(info, "name", ""))
    if problem is not None:
        raise ClassesChanged(f"{problem}, so {advice}")


@dataclass
class EvaluationData:
    dataset: str
    train: object                 # the training split (calibration reads from it)
    val: object                   # the validation split as loaded (read a batch at a time)
    indices: torch.Tensor         # the validation samples judged: all of them, or max_val of them
    transform: object             # the validation transform (normalisation), or None
    seed: int = 0
    split_size: int = 0           # samples in the whole validation split (indices may hold fewer: max_val)
    pool: int | None = None       # how many samples val_x holds (None: every judged sample)
    _kept: tuple | None = field(default=None, init=False, repr=False)    # (x, y) of a small split, once read
    _labels: torch.Tensor | None = field(default=None, init=False, repr=False)

    def read(self, split, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return read_batch(split, idx, self.transform)

    def calibration(self, n: int = 256) -> torch.Tensor:
        """`n` training samples (a seeded random choice), transformed like validation samples."""
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(self.train), generator=g)[:n]
        return self.read(self.train, idx)[0]

    def __len__(self) -> int:
        return len(self.indices)

    def batches(self, batch_size: int = READ_BATCH):
        """(x transformed, y) of the judged samples in order, `batch_size` at a time (never all at once,
        unless the split is small enough to be kept: KEEP_BYTES)."""
        if self._kept is not None:
            x, y = self._kept
            for start in range(0, len(y), batch_size):
                yield x[start:start + batch_size], y[start:start + batch_size]
            return
        xs, ys, keep = [], [], None
        for start in range(0, len(self.indices), batch_size):    # (no grad mode set here: it would leak to the
            x, y = self.read(self.val, self.indices[start:start + batch_size])     # caller at each yield)
            if keep is None:            # the first batch tells the size of a sample
                keep = len(self.indices) * x[:1].numel() * x.element_size() <= KEEP_BYTES
            if keep and xs and x.shape[1:] != xs[0].shape[1:]:         # (sequences trimmed per batch)
                keep, xs = False, []
            if keep:
                xs.append(x)
            ys.append(y.cpu())
            yield x, y
        self._labels = torch.cat(ys) if ys else torch.zeros(0, dtype=torch.int64)
        if keep and xs:
            self._kept = (torch.cat(xs), self._labels)

    def predictions(self, forward, batch_size: int = READ_BATCH) -> torch.Tensor:
        """Top-1 class of every judged validation sample under `forward(x) -> logits`."""
        out = []
        with torch.no_grad():
            for x, _ in self.batches(batch_size):
                out.append(torch.as_tensor(forward(x)).argmax(dim=1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)

    def accuracy(self, forward, batch_size: int = READ_BATCH) -> float:
        """Top-1 accuracy, counted batch by batch."""
        correct, total = 0, 0
        with torch.no_grad():
            for x, y in self.batches(batch_size):
                pred = torch.as_tensor(forward(x)).argmax(dim=1).cpu()
                correct += int((pred == y.cpu()).sum())
                total += len(y)
        return correct / total if total else float("nan")

    @property
    def val_y(self) -> torch.Tensor:
        """The labels of the judged samples (read once, then remembered)."""
        if self._labels is None:
            labels = getattr(self.val, "labels", None)
            if isinstance(labels, torch.Tensor):          # held in memory: no sample needs reading
                self._labels = labels[self.indices.to(labels.device)].cpu()
            else:
                for _ in self.batches():
                    pass
        return self._labels

    def samples(self, n: int | None) -> torch.Tensor:
        """The first `n` judged samples (None: all of them, which holds the whole split in memory), transformed."""
        if self._kept is not None:
            return self._kept[0][:n]
        with torch.no_grad():
            if n is not None or not len(self.indices):
                return self.read(self.val, self.indices[:n])[0]
            return torch.cat([x for x, _ in self.batches()])

    @property
    def val_x(self) -> torch.Tensor:
        """The samples a latency measurement repeats (`pool` of them), or all judged samples (pool None)."""
        return self.samples(self.pool)


def read_batch(split, idx: torch.Tensor, transform) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = gather(split, idx)
    if transform is not None:
        x = transform(x)
    return x, y


def evaluation_data(config: dict, input_shape: tuple[int, ...], dataset: str | None = None,
                    max_val: int | None = None, bundle=None, class_names=None,
                    pool: int | None = None) -> EvaluationData:
    """Load the data set a run trained on (raises DataError with a sentence if it cannot), or use
    `bundle`, a DataBundle already loaded. `max_val` caps the validation samples: a seeded random choice
    of that many (kept in split order), so a split stored class by class is still sampled evenly.
    `class_names`: the classes the run trained on (its checkpoint's); a data set whose classes changed
    since is refused (ClassesChanged). `pool`: how many samples `val_x` holds (None: all)."""
    name = config.get("dataset") or dataset
    seed = int(config.get("seed", 0) or 0)
    if bundle is None:
        if not name:
            raise DataError("the graph names no data set: set one in its training settings")
        bundle = load_dataset(name, input_shape=tuple(input_shape), seed=seed,
                              **(config.get("dataset_options") or {}))
    check_classes(class_names, bundle.info)
    transform = build_transforms(bundle.info, augment=None, normalize=config.get("normalize", True), train=False)
    idx = torch.arange(len(bundle.val))
    if max_val is not None and max_val < len(idx):
        idx = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:max_val].sort().values
    if len(idx):
        with torch.no_grad():
            x, _ = read_batch(bundle.val, idx[:1], transform)      # one sample tells the shape
        if x.dtype.is_floating_point and tuple(x.shape[1:]) != tuple(input_shape):
            raise DataError(f"{bundle.info.name} gives samples of shape {format_shape(x.shape[1:])}, but the model "
                            f"takes {format_shape(input_shape)}: choose a data set that fits the Input block")
    return EvaluationData(bundle.info.name, bundle.train, bundle.val, idx, transform, seed, len(bundle.val), pool)
