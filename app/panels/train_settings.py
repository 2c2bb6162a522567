"""The training settings form: every TrainConfig field the app offers, as compact editors.

`load(config)` fills the form from a TrainConfig (the graph's training section over the defaults);
`values()` returns the overrides as a dict for TrainConfig. While a run is active the form is
read-only, except the learning rate while paused (`lr_edited` fires as it changes).
"""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from layerloom.runtime import devices
from layerloom.runtime.config import DEVICES, LOSSES, NUMBERS, OPTIMIZERS, SCHEDULES, TrainConfig

from ..status_room import ElidedLabel
from .sweep_menu import offer_sweep

# the form's rows that a sweep can vary (TrainConfig field names): their labels offer "Sweep this parameter"
SWEEPABLE = {"Optimizer": "optimizer", "Learning rate": "lr", "Momentum": "momentum", "Weight decay": "weight_decay",
             "Schedule": "schedule", "Decay every": "step_size", "Decay factor": "gamma", "Batch size": "batch_size",
             "Epochs": "epochs", "Max steps": "max_steps", "Loss": "loss", "Grad clip": "grad_clip",
             "Temperature": "temperature", "Alpha (α)": "alpha"}


# augmentation limits: what runtime/data/transforms.parse_augment accepts (a test holds them to it)
AUGMENT_LIMITS = {"random_crop": 256, "rotation": 180.0, "color_jitter": 1.0}


class ExactSpin(QDoubleSpinBox):
    """A float kept and shown exactly as given (0.9375, 0.00015, 7.5): the shortest text that reads back as the
    value, never rounded to a number of decimals, so a value from the graph file reaches the run unchanged."""

    def __init__(self, low: float, high: float, step: float = 0.1, zero_text: str = "", suffix: str = "",
                 parent=None):
        super().__init__(parent)
        self.setDecimals(323)           # Qt rounds a value to this many decimals (its most): every double from 1e-306
        self.setRange(0.0 if zero_text else low, high)
        self.low = low
        self.setSingleStep(step)
        if zero_text:
            self.setSpecialValueText(zero_text)
        if suffix:
            self.setSuffix(suffix)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        text = repr(float(value))          # the shortest text that reads back as exactly this value
        return text[:-2] if text.endswith(".0") else text

    def _bare(self, text: str) -> str:
        t = text.strip()
        if self.suffix() and t.endswith(self.suffix().strip()):
            t = t[:-len(self.suffix().strip())].strip()
        return t

    def valueFromText(self, text: str) -> float:
        try:
            return float(self._bare(text))
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        from PySide6.QtGui import QValidator
        t = self._bare(text)
        if t == self.specialValueText() and t:
            return QValidator.State.Acceptable, text, pos
        try:
            v = float(t)
        except ValueError:
            ok = t in ("", "-", ".") or t.lower().endswith(("e", "e-", "e+"))
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if not math.isfinite(v):
            return QValidator.State.Invalid, text, pos
        return (QValidator.State.Acceptable if self.minimum() <= v <= self.maximum()
                else QValidator.State.Intermediate), text, pos


class LogSpin(ExactSpin):
    """A positive float shown as typed (0.003, 1e-05); arrows multiply or divide by about 2.15."""

    def __init__(self, low: float, high: float, zero_text: str = "", parent=None):
        super().__init__(low, high, zero_text=zero_text, parent=parent)

    def stepBy(self, steps: int) -> None:
        v = self.value()
        if v <= 0:
            v = self.low if steps > 0 else 0.0
        else:
            v = v * 10 ** (steps / 3)
            v = float(f"{v:.3g}")
            if v < self.low:
                v = 0.0 if self.specialValueText() else self.low
        self.setValue(min(v, self.maximum()))


def _bounds(name: str) -> tuple:
    """The lowest and highest value TrainConfig accepts for the setting `name`."""
    return NUMBERS[name][:2]


def _spin(low: int, high: int, zero_text: str = "", suffix: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setKeyboardTracking(False)
    if zero_text:
        s.setSpecialValueText(zero_text)
    if suffix:
        s.setSuffix(suffix)
    return s


def _combo(options, labels: dict | None = None) -> QComboBox:
    c = QComboBox()
    c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(6)
    for o in options:
        c.addItem((labels or {}).get(o, o), o)
    return c


def device_labels() -> dict[str, str]:
    """The device list's entries: "auto (cpu)", and a device this machine lacks marked "(not available)"."""
    return {"auto": f"auto ({devices.resolve('auto')})", "cpu": "cpu",
            **{d: d if devices.has(d) else f"{d} (not available)" for d in ("cuda", "mps")}}


class TrainSettings(QWidget):
    changed = Signal()
    lr_edited = Signal(float)
    sweep_requested = Signal(str, str)     # "training.<setting>", a starting SPEC ("Sweep this parameter")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.optimizer = _combo(OPTIMIZERS, {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"})
        self.lr = LogSpin(*_bounds("lr"))
        self.momentum = ExactSpin(*_bounds("momentum"), step=0.05)
        self.weight_decay = LogSpin(1e-8, _bounds("weight_decay")[1], zero_text="off")
        self.schedule = _combo(SCHEDULES, {"onecycle": "one-cycle"})
        self.step_size = _spin(*_bounds("step_size"), zero_text="a third of the run", suffix=" epochs")
        self.step_size.setToolTip('"step" schedule: epochs between decays')
        self.gamma = ExactSpin(*_bounds("gamma"), step=0.05)
        self.gamma.setToolTip('"step" schedule: the factor the learning rate is multiplied by at each decay')
        self.batch_size = _spin(*_bounds("batch_size"))
        self.epochs = _spin(*_bounds("epochs"))
        self.max_steps = _spin(*_bounds("max_steps"), zero_text="no limit")
        self.loss = _combo(LOSSES, {"cross_entropy": "cross-entropy", "mse": "MSE"})
        self.grad_clip = LogSpin(1e-4, _bounds("grad_clip")[1], zero_text="off")
        self.seed = _spin(*_bounds("seed"))
        labels = device_labels()
        self.device = _combo(DEVICES, labels)
        model: QStandardItemModel = self.device.model()
        for i, d in enumerate(DEVICES):
            if "not available" in labels[d]:
                model.item(i).setEnabled(False)
        self.amp = QCheckBox("mixed precision (CUDA)")
        self.amp.setToolTip("float16 autocast; used on CUDA only")
        self.normalize = QCheckBox("normalize")
        self.normalize.setToolTip("subtract the data set's mean and divide by its std, per channel")
        self.random_crop = _spin(0, AUGMENT_LIMITS["random_crop"], zero_text="off", suffix=" px")
        self.random_crop.setToolTip("pad by this many pixels, then crop back at a random place")
        self.hflip = QCheckBox("flip left-right")
        self.rotation = ExactSpin(0.0, AUGMENT_LIMITS["rotation"], step=1.0, zero_text="off", suffix="°")
        self.rotation.setToolTip("rotate by a random angle up to this many degrees")
        self.color_jitter = ExactSpin(0.0, AUGMENT_LIMITS["color_jitter"], step=0.1, zero_text="off")
        self.color_jitter.setToolTip("strength of random brightness and contrast (and colour for RGB)")
        self.lr.setToolTip("learning rate; while paused it can be changed and applies when you resume")
        self.teacher = QLineEdit()
        self.teacher.setPlaceholderText("none: a trained run folder")
        self.teacher.setToolTip("distil from this trained run: the loss mixes the teacher's softened outputs "
                                "(KL divergence) with the ordinary loss; the teacher runs in eval mode, no gradients")
        self.teacher_browse = QPushButton("…")
        self.teacher_browse.setToolTip("choose the teacher's run folder")
        self.teacher_browse.setFixedWidth(28)
        self.teacher_browse.clicked.connect(self._browse_teacher)
        self.temperature = ExactSpin(*_bounds("temperature"), step=0.5)
        self.temperature.setToolTip("T: both outputs are divided by T before the softmax (higher: softer)")
        self.alpha = ExactSpin(*_bounds("alpha"), step=0.05)
        self.alpha.setToolTip("α: weight of the teacher's term; 1 − α weighs the ordinary loss")

        self.start_from = ElidedLabel()
        self.start_from.setObjectName("starts_from")
        train = QGroupBox("Training")
        f = self._train_form = QFormLayout(train)
        self._form(f, [("Starts from", self.start_from), ("Optimizer", self.optimizer), ("Learning rate", self.lr),
                       ("Momentum", self.momentum), ("Weight decay", self.weight_decay), ("Schedule", self.schedule), ("Decay every", self.step_size),
                       ("Decay factor", self.gamma), ("Batch size", self.batch_size),
                       ("Epochs", self.epochs), ("Max steps", self.max_steps), ("Loss", self.loss),
                       ("Grad clip", self.grad_clip), ("Device", self.device), ("Seed", self.seed)])
        f.addRow("", self.normalize)
        f.addRow("", self.amp)
        augment = QGroupBox("Augmentation")
        a = QFormLayout(augment)
        self._form(a, [("Random crop", self.random_crop), ("Rotation", self.rotation),
                       ("Color jitter", self.color_jitter), ("", self.hflip)])
        distil = QGroupBox("Distillation")
        d = QFormLayout(distil)
        teacher_row = QHBoxLayout()
        teacher_row.setContentsMargins(0, 0, 0, 0)
        teacher_row.addWidget(self.teacher, 1)
        teacher_row.addWidget(self.teacher_browse)
        d.addRow("Teacher", teacher_row)
        self._form(d, [("Temperature", self.temperature), ("Alpha (α)", self.alpha)])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(train)
        layout.addWidget(augment)
        layout.addWidget(distil)
        self.editors = [self.optimizer, self.lr, self.momentum, self.weight_decay, self.schedule, self.step_size,
                        self.gamma, self.batch_size,
                        self.epochs, self.max_steps, self.loss, self.grad_clip, self.seed, self.device, self.amp,
                        self.normalize, self.random_crop, self.hflip, self.rotation, self.color_jitter,
                        self.teacher, self.teacher_browse, self.temperature, self.alpha]
        for w in self.editors:
            if not isinstance(w, QCheckBox):
                w.setMinimumWidth(64)      # the panel fits a narrow dock; values stay readable
        for w in self.editors:
            for sig in ("currentIndexChanged", "valueChanged", "toggled", "textChanged"):
                if hasattr(w, sig):
                    getattr(w, sig).connect(self._changed)
                    break
        self.optimizer.currentIndexChanged.connect(self._enable_dependents)
        self.schedule.currentIndexChanged.connect(self._enable_dependents)
        self.teacher.textChanged.connect(self._enable_dependents)
        self.lr.valueChanged.connect(self._lr_changed)
        self._loading = False
        self._mode = "idle"
        self._enable_dependents()

    def _form(self, form: QFormLayout, rows) -> None:
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for text, widget in rows:
            if text in SWEEPABLE:
                label = QLabel(text)
                label.setObjectName(f"setting-{SWEEPABLE[text]}")
                offer_sweep(label, lambda name=SWEEPABLE[text]: self.sweep_setting(name))
                form.addRow(label, widget)
            else:
                form.addRow(text, widget)

    def sweep_setting(self, name: str) -> None:
        """Ask for a sweep over one training setting, starting around the value the form shows."""
        from layerloom.runtime.sweeps.spec import starting_spec
        path = f"training.{name}"
        self.sweep_requested.emit(path, starting_spec(None, path, self.values()[name]))

    # -- values ---------------------------------------------------------------------------------
    def load(self, cfg: TrainConfig, graph_weights: str | None = None) -> None:
        """Fill the form; `graph_weights` names the graph's own weights file, if any (for "Starts from")."""
        self._loading = True
        try:
            for combo, value in ((self.optimizer, cfg.optimizer), (self.schedule, cfg.schedule),
                                 (self.loss, cfg.loss), (self.device, cfg.device)):
                combo.setCurrentIndex(max(0, combo.findData(value)))
            self.lr.setValue(cfg.lr)
            self.momentum.setValue(cfg.momentum)
            self.weight_decay.setValue(cfg.weight_decay)
            self.step_size.setValue(cfg.step_size)
            self.gamma.setValue(cfg.gamma)
            self.batch_size.setValue(cfg.batch_size)
            self.epochs.setValue(cfg.epochs)
            self.max_steps.setValue(cfg.max_steps)
            self.grad_clip.setValue(cfg.grad_clip)
            self.seed.setValue(cfg.seed)
            self.amp.setChecked(cfg.amp)
            self.normalize.setChecked(cfg.normalize)
            aug = cfg.augment or {}
            self.random_crop.setValue(int(aug.get("random_crop", 0) or 0))
            self.hflip.setChecked(bool(aug.get("hflip", False)))
            self.rotation.setValue(float(aug.get("rotation", 0) or 0))
            self.color_jitter.setValue(float(aug.get("color_jitter", 0) or 0))
            self.teacher.setText(cfg.teacher)
            self._show_start(cfg.init_from, graph_weights)
            self.temperature.setValue(cfg.temperature)
            self.alpha.setValue(cfg.alpha)
        finally:
            self._loading = False
        self._enable_dependents()

    def values(self) -> dict:
        augment = {}
        if self.random_crop.value():
            augment["random_crop"] = self.random_crop.value()
        if self.hflip.isChecked():
            augment["hflip"] = True
        if self.rotation.value():
            augment["rotation"] = float(self.rotation.value())
        if self.color_jitter.value():
            augment["color_jitter"] = self.color_jitter.value()
        return {"optimizer": self.optimizer.currentData(), "lr": self.lr.value(),
                "momentum": self.momentum.value(), "weight_decay": self.weight_decay.value(),
                "schedule": self.schedule.currentData(), "step_size": self.step_size.value(),
                "gamma": self.gamma.value(), "batch_size": self.batch_size.value(),
                "epochs": self.epochs.value(), "max_steps": self.max_steps.value(), "loss": self.loss.currentData(),
                "grad_clip": self.grad_clip.value(), "seed": self.seed.value(), "device": self.device.currentData(),
                "amp": self.amp.isChecked(), "normalize": self.normalize.isChecked(), "augment": augment,
                "teacher": self.teacher.text().strip(), "temperature": self.temperature.value(),
                "alpha": self.alpha.value()}

    def _show_start(self, init_from: str, graph_weights: str | None) -> None:
        """The weights a run starts from (`init_from`, set by Edit ▸ Initialise Weights From…); read-only
        here, so that a change always goes through that dialog's check."""
        how = "Change it with Edit ▸ Initialise Weights From…"
        if not init_from:
            own = f"the graph's weights ({Path(graph_weights).name})" if graph_weights else "fresh weights"
            self.start_from.setText(own)
            self.start_from.setToolTip(f"Runs start from {own}. {how}")
            return
        shown = init_from if init_from.startswith("torchvision:") else Path(init_from).name or init_from
        self.start_from.setText(shown)
        self.start_from.setToolTip(f"Runs start from the weights in {init_from}. {how}")

    # -- modes ----------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """idle: everything editable; running: nothing; paused: only the learning rate."""
        self._mode = mode
        for w in self.editors:
            w.setEnabled(mode == "idle" or (mode == "paused" and w is self.lr))
        if mode == "idle":
            self._enable_dependents()

    def _enable_dependents(self) -> None:
        """Momentum shows for SGD and the decay rows for a step schedule only: greyed out, they took three rows
        (a small screen then scrolled for the batch size or the device)."""
        sgd, stepped = self.optimizer.currentData() == "sgd", self.schedule.currentData() == "step"
        for widget, applies in ((self.momentum, sgd), (self.step_size, stepped), (self.gamma, stepped)):
            self._train_form.setRowVisible(widget, applies)
        if self._mode == "idle":
            self.momentum.setEnabled(sgd)
            self.step_size.setEnabled(stepped)
            self.gamma.setEnabled(stepped)
            taught = bool(self.teacher.text().strip())
            self.temperature.setEnabled(taught)
            self.alpha.setEnabled(taught)

    def _browse_teacher(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Teacher run", self.teacher.text() or "runs")
        if folder:
            self.teacher.setText(folder)

    def _changed(self, *_args) -> None:
        if not self._loading:
            self.changed.emit()

    def _lr_changed(self, value: float) -> None:
        if self._mode == "paused" and not self._loading and math.isfinite(value) and value > 0:
            self.lr_edited.emit(value)
