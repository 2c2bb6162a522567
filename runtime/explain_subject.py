"""What an explanation is about: a trained model (from a run or checkpoint) and the samples it is shown.

    subject = load_subject("runs/20260101-120000-lenet-5")
    raw, x, label = subject.sample(7)          # validation sample 7: for display, for the model, its class
    raw, x = subject.image_file("digit.png")   # your own image, resized and normalised like the data

The model comes from runtime/checkpoints.py exactly as the exporter loads it (weights only, no
unpickling); the samples come from the run's data set with its validation transform.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch

from layerloom.graph.quoting import shown

from .data import DataError, load_dataset
from .data.image_folder import ToSample, read_image
from .data.transforms import build_transforms
from .evaluation import classes_problem
from .explain import Cancelled, ExplainError, check_finite, check_one_input, class_scores
from .export.source import UNTRAINED_EXPORT, ExportError, load_source


class Subject:
    """A model in eval mode on CPU plus the run's data settings."""

    def __init__(self, source):
        try:
            self.source = load_source(source)
        except ExportError as exc:
            raise ExplainError(str(exc)) from None
        self.model = self.source.model.eval()
        check_one_input(self.model)
        self.doc = self.source.doc
        self.trained = self.source.trained
        # the source's words on an untrained graph are about exporting it; an explanation says its own
        self.warnings = [w for w in self.source.warnings if w != UNTRAINED_EXPORT]
        if not self.trained:
            self.warnings.insert(0, "this graph has not been trained: the explanation is of freshly initialised "
                                    "weights (explain a run folder to see what a trained model looks at)")
        meta = self.source.metadata
        self.class_names = list(meta.get("class_names") or [])
        self.input_shape = tuple(self.source.input_shape)
        self.input_dtype = self.source.input_dtype
        self.config = dict(self.source.config or {})
        self._data = None
        self._val_tf = None
        self._loading = threading.Lock()     # two jobs may ask for the data set at once: it loads once

    # -- data --------------------------------------------------------------------------------------
    def _load(self):
        with self._loading:
            if self._data is None:
                self._load_data()

    def _load_data(self):
        name = self.config.get("dataset") or self.doc.training.get("dataset")
        if not name:
            raise ExplainError("this run names no data set, so it has no validation samples: use --image FILE")
        try:
            self._data = load_dataset(name, input_shape=self.input_shape, seed=int(self.config.get("seed", 0)),
                                      **dict(self.config.get("dataset_options") or {}))
            self._val_tf = build_transforms(self._data.info, augment=None,
                                            normalize=bool(self.config.get("normalize", True)), train=False)
        except DataError as exc:          # its own advice is about the data settings; a run's are fixed
            raise ExplainError(f"the validation samples of this run cannot be loaded: {str(exc).rstrip('.')} "
                               "(put its data set back where the run read it)") from None
        changed = classes_problem(self.class_names, self._data.info.class_names, self._data.info.name) \
            if self.trained else None
        if changed:                       # every sample would be labelled, and judged, as another class
            self._data = None
            raise ExplainError(f"the validation samples of this run cannot be used: {changed}, so their labels "
                               "would name other classes: put the data set back as it was, or explain a new run "
                               "trained on it")
        if not self.class_names:
            self.class_names = list(self._data.info.class_names)

    @property
    def val(self):
        self._load()
        return self._data.val

    @property
    def vocabulary(self) -> list[str]:
        self._load()
        return list(self._data.info.vocabulary)

    def words(self, x: torch.Tensor) -> list[str] | None:
        """The token of each id of a token-id sample `x` ([1, T]); None when `x` is not token ids."""
        if x.is_floating_point():
            return None
        vocab = self.vocabulary
        return [vocab[i] if 0 <= i < len(vocab) else str(i) for i in x[0].tolist()]

    def prepare(self, raw: torch.Tensor) -> torch.Tensor:
        """The model's input for a raw batch (the validation transform: normalisation)."""
        self._load()
        return self._val_tf(raw) if self._val_tf is not None else raw

    def sample(self, index: int):
        """(raw [1, ...] for display, model input [1, ...], label) of validation sample `index`."""
        n = len(self.val)
        if not 0 <= index < n:
            raise ExplainError(f"there is no validation sample {index}: {self._data.info.name} has {n} "
                               f"(0 to {n - 1})")
        idx = torch.tensor([index])
        raw, y = self.val.batch(idx) if hasattr(self.val, "batch") else _stack(self.val, idx)
        return raw, self.prepare(raw), int(y[0])

    def probe(self) -> torch.Tensor:
        """One made-up model input [1, ...] of the right shape and type, without loading the data set."""
        return self.source.probe(batch=1)

    def batches(self, size: int = 256):
        """(indices, raw, model input, labels) over the validation split."""
        n = len(self.val)
        for start in range(0, n, size):
            idx = torch.arange(start, min(n, start + size))
            raw, y = self.val.batch(idx) if hasattr(self.val, "batch") else _stack(self.val, idx)
            yield idx, raw, self.prepare(raw), y

    @torch.no_grad()
    def wrong_predictions(self, limit: int = 64, cancel=None) -> list[dict]:
        """Validation samples the model gets wrong: [{"index", "label", "predicted", "probability"}].
        `cancel` (a threading.Event) stops it between batches with Cancelled."""
        found = []
        for idx, _, x, y in self.batches():
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            scores = class_scores(self.model(x)).float()
            check_finite(scores, f"validation samples {int(idx[0])} to {int(idx[-1])}")
            probs = torch.softmax(scores, dim=1)
            p, pred = probs.max(dim=1)
            for i in torch.nonzero(pred != y).flatten().tolist():
                found.append({"index": int(idx[i]), "label": int(y[i]), "predicted": int(pred[i]),
                              "probability": float(p[i])})
                if len(found) >= limit:
                    return found
        return found

    def image_file(self, path):
        """(raw [1, C, H, W] in [0, 1], model input) for an image file, resized to the model's input."""
        if len(self.input_shape) != 3 or not self.input_dtype.startswith("float"):
            raise ExplainError("this model does not read images: explain a validation sample with --sample N")
        c, h, w = self.input_shape
        if c not in (1, 3):
            raise ExplainError(f"the model reads {c}-channel images; only 1- or 3-channel inputs can come from a file")
        if not Path(path).exists():
            raise ExplainError(f"{shown(str(path), 300)} does not exist: give the path of a .png or .jpg file")
        try:       # read as the image-folder data set reads its pictures (16-bit grey levels, too-large files)
            with read_image(path) as im:
                raw = ToSample(c, (h, w))(im).unsqueeze(0)
        except DataError as exc:
            raise ExplainError(str(exc)) from None
        return raw, self.prepare(raw)


def _stack(split, idx):
    items = [split[int(i)] for i in idx]
    return torch.stack([a for a, _ in items]), torch.as_tensor([int(b) for _, b in items])


def load_subject(source) -> Subject:
    """A run folder, checkpoint folder (trained) or .loom.json graph (untrained) to explain."""
    return Subject(source)
