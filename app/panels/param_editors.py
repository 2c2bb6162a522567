"""One editor widget per parameter type, built from the registry's `Param` schema.

int: a bounded spin box · float: a number field · bool: a check box · choice: a combo box ·
size: a field taking `3`, `3, 5` or a named value such as `same` · shape: a field taking `1, 28, 28`.
Params that accept "auto" get an auto toggle; while it is on, the editor shows the value analysis
resolved. Each editor emits `committed(value)` once per finished edit (Enter, focus out, a click).
"""
from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QHBoxLayout, QLineEdit, QSpinBox, QWidget)

from layerloom.graph.params import AUTO, Param

INT_LIMIT = 2**31 - 1
NONE_TEXT = "none"


def parse_ints(text: str) -> int | list[int] | str | None:
    """"5" -> 5, "3, 5" / "3×5" / "[3, 5]" -> [3, 5], "" -> None; other words are returned as typed."""
    t = text.strip().strip("[]()").strip()
    if not t:
        return None
    if re.search(r"(^|,)\s*,", t):          # "1,,28": a number left out, not [1, 28]
        return text.strip()
    parts = [p for p in re.split(r"[,×x*\s]+", t) if p]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        return text.strip()
    return nums[0] if len(nums) == 1 and "," not in t else nums


def ints_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def float_text(value: Any) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


class ParamEditor(QWidget):
    committed = Signal(object)

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.value: Any = param.default
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.main = self._make_main()
        self._layout.addWidget(self.main, 1)
        self.auto_box: QCheckBox | None = None
        if param.auto:
            self.auto_box = QCheckBox("auto", self)
            self.auto_box.setToolTip("Fill in from the incoming tensor's shape")
            self.auto_box.toggled.connect(self._auto_toggled)
            self._layout.addWidget(self.auto_box)
        self.setToolTip(f"{param.doc}\n({param.expects()})")

    # -- to be provided per type --------------------------------------------------------------------
    def _make_main(self) -> QWidget:
        raise NotImplementedError

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def set_value(self, value: Any, resolved: Any = None) -> None:
        """Show the block's value (and, when it is "auto", what it resolved to) without committing."""
        self.value = value
        is_auto = value == AUTO
        self.blockSignals(True)
        for w in (self.main, self.auto_box):
            if w is not None:
                w.blockSignals(True)
        if self.auto_box is not None:
            self.auto_box.setChecked(is_auto)
        self.main.setEnabled(not is_auto)
        shown = resolved if is_auto else value
        if shown == AUTO:
            shown = None
        if not self.typing():          # what a person is typing stays until they finish (Enter, focus out)
            self._show(shown)
        for w in (self.main, self.auto_box):
            if w is not None:
                w.blockSignals(False)
        self.blockSignals(False)

    def _auto_toggled(self, on: bool) -> None:
        self.main.setEnabled(not on)
        if on:
            self.committed.emit(AUTO)
        else:
            self.commit_current()

    def commit_current(self) -> None:
        raise NotImplementedError

    def field(self) -> QLineEdit | None:
        """The line a person types the value in, if the editor has one."""
        return self.main if isinstance(self.main, QLineEdit) else None

    def typing(self) -> bool:
        """Has a person changed the text in this editor's field without finishing yet?"""
        field = self.field()
        return field is not None and self.main.hasFocus() and field.isModified()

    def finish(self) -> None:
        """Commit what is typed now, as Enter would."""
        self.commit_current()

    def _finish(self, value: Any) -> None:
        """The field's text is committed: the value shows as the block has it from now on."""
        self.field().setModified(False)
        self._emit(value)

    def _emit(self, value: Any) -> None:
        if value != self.value:
            self.committed.emit(value)


class IntEditor(ParamEditor):
    def _make_main(self) -> QWidget:
        p = self.param
        box = QSpinBox(self)
        low = int(p.min) if p.min is not None else -INT_LIMIT
        if p.optional:
            low -= 1
            box.setSpecialValueText(NONE_TEXT)
        box.setRange(max(low, -INT_LIMIT), min(int(p.max) if p.max is not None else INT_LIMIT, INT_LIMIT))
        box.setKeyboardTracking(False)
        box.setAccelerated(True)
        box.valueChanged.connect(lambda _v: self.commit_current())
        return box

    def _show(self, value) -> None:
        if value is None:
            self.main.setValue(self.main.minimum() if self.param.optional else 0)
        elif isinstance(value, int):
            self.main.setValue(value)

    def field(self) -> QLineEdit | None:
        return self.main.lineEdit()

    def finish(self) -> None:
        self.main.interpretText()       # the typed number becomes the box's value (a commit, if it changed)
        self.commit_current()

    def commit_current(self) -> None:
        v = self.main.value()
        self._finish(None if self.param.optional and v == self.main.minimum() else v)


class FloatEditor(ParamEditor):
    def _make_main(self) -> QWidget:
        edit = QLineEdit(self)
        edit.editingFinished.connect(self.commit_current)
        return edit

    def _show(self, value) -> None:
        self.main.setText("" if value is None else float_text(value))

    def commit_current(self) -> None:
        text = self.main.text().strip()
        try:
            value = float(text) if text else None
        except ValueError:
            value = text
        self._finish(value)


class BoolEditor(ParamEditor):
    def _make_main(self) -> QWidget:
        box = QCheckBox(self)
        box.toggled.connect(lambda _v: self.commit_current())
        return box

    def _show(self, value) -> None:
        self.main.setChecked(bool(value))

    def commit_current(self) -> None:
        self._emit(self.main.isChecked())


class ChoiceEditor(ParamEditor):
    def _make_main(self) -> QWidget:
        combo = QComboBox(self)
        combo.addItems(list(self.param.choices))
        combo.currentTextChanged.connect(lambda _t: self.commit_current())
        return combo

    def _show(self, value) -> None:
        self.main.setCurrentText(str(value))

    def commit_current(self) -> None:
        self._emit(self.main.currentText())


class IntsEditor(ParamEditor):
    """For "size" and "shape": whole numbers typed as `5` or `3, 5` (or a named value)."""

    def _make_main(self) -> QWidget:
        edit = QLineEdit(self)
        p = self.param
        if p.type == "size":
            hint = "e.g. 3" + (f" or {', '.join(['3'] * (p.length or 2))}" if p.length != 1 else "")
            if p.strings:
                hint += " or " + " / ".join(p.strings)
                completer = QCompleter(list(p.strings), edit)
                completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
                completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
                edit.setCompleter(completer)
        else:
            hint = "e.g. 1, 28, 28"
        if p.optional:
            hint = "empty: " + ("same as kernel_size" if p.name == "stride" else "none")
        edit.setPlaceholderText(hint)
        edit.editingFinished.connect(self.commit_current)
        return edit

    def _show(self, value) -> None:
        self.main.setText(ints_text(value))

    def commit_current(self) -> None:
        value = parse_ints(self.main.text())
        if self.param.type == "shape" and isinstance(value, int):
            value = [value]
        if isinstance(value, str):       # a named value, offered whatever its case ("SAME" is "same")
            value = next((w for w in self.param.strings or () if w.lower() == value.lower()), value)
        self._finish(value)


EDITORS = {"int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
           "size": IntsEditor, "shape": IntsEditor}


def make_editor(param: Param, parent=None) -> ParamEditor:
    return EDITORS[param.type](param, parent)
