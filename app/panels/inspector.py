"""The inspector: everything about the selected block, and its parameters to edit.

Shows the kind, its description and formula, an editable id, one editor per parameter, the input
and output shapes, parameter count, MACs and FLOPs, and the block's problems with their fixes. With no
block selected it shows the graph: name, description and totals. Every change is an undoable edit.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QApplication, QCheckBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from layerloom.graph.blocks import get_kind
from layerloom.graph.diagnostics import shape_text
from layerloom.graph.summary import COST_TOOLTIP, cost_text, human, partial_text

from .. import edits, theme
from ..session import Session
from .param_editors import ParamEditor, make_editor
from .sweep_menu import offer_sweep


FROZEN_TIP = ("Off (frozen ❄): training leaves this block's weights and normalisation statistics as they are, "
              "e.g. to fine-tune only the head of an imported network")


def _label(text: str = "", muted: bool = False, wrap: bool = True) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(wrap)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if muted:
        lab.setStyleSheet("color: palette(placeholder-text);")
    return lab


class Inspector(QScrollArea):
    sweep_requested = Signal(str, str)     # parameter path, a starting SPEC ("Sweep this parameter")
    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.block_id: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(300)
        self._body: QWidget | None = None
        self._kind: str | None = None
        session.analysed.connect(lambda _r: self.refresh())
        session.lock_changed.connect(self.refresh)
        session.document_replaced.connect(lambda _d: self.show_block(None))
        self.show_block(None)

    def sweep_parameter(self, name: str) -> None:
        """Ask for a sweep over one parameter of the shown block, starting around its current value."""
        from layerloom.runtime.sweeps.spec import starting_spec
        block = self.session.document.blocks.get(self.block_id)
        if block is None:
            return
        path = f"blocks.{block.id}.params.{name}"
        self.sweep_requested.emit(path, starting_spec(self.session.document, path))

    # -- building -------------------------------------------------------------------------------
    def _new_body(self) -> QVBoxLayout:
        """A fresh page; show_block puts it in place once it is filled (children added later stay hidden)."""
        self._body = QWidget()
        layout = QVBoxLayout(self._body)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(10)
        return layout

    def show_block(self, block_id: str | None) -> None:
        """Show a block (or the graph, for None); rebuilds the form only when the kind changes."""
        doc = self.session.document
        if block_id is not None and block_id not in doc.blocks:
            block_id = None
        kind = doc.blocks[block_id].kind if block_id else None
        if block_id == self.block_id and kind == self._kind and self._body is not None:
            self.refresh()
            return
        self._finish_editing()
        self.block_id, self._kind = block_id, kind
        self.editors = {}
        if block_id is None:
            self._build_graph()
        else:
            self._build_block(block_id)
        old = self.takeWidget()
        if old is not None:
            old.hide()
            old.deleteLater()   # it may be sending the signal that got us here
        self.setWidget(self._body)
        self._body.show()
        self.refresh()

    def _finish_editing(self) -> None:
        """Before the page changes (a shortcut, a menu or an undo changed the selection while a field still had
        the focus): what was typed there goes to the block or graph it was typed for, if that is still there;
        then the old page's fields fall silent, so that losing the focus as the page goes commits nothing to
        the block shown next."""
        body, focus = self._body, QApplication.focusWidget()
        if body is None:
            return
        if focus is not None and body.isAncestorOf(focus):
            if self.block_id is None:
                if focus is self.name_edit:
                    self._set_name()
                elif focus is self.description_edit:
                    self._set_description()
            elif self.block_id in self.session.document.blocks:
                if focus is self.id_edit:
                    self._rename()
                for editor in self.editors.values():
                    if editor.isAncestorOf(focus):
                        editor.finish()
        if self.block_id is None:
            self.description_edit.removeEventFilter(self)
        for widget in body.findChildren(QWidget):
            widget.blockSignals(True)

    def _build_block(self, block_id: str) -> None:
        layout = self._new_body()
        kind = get_kind(self.session.document.blocks[block_id].kind)
        colour = theme.current().category(kind.category).name()
        title = _label(f"<span style='color:{colour}'>■</span> <b style='font-size:15px'>{kind.name}</b>"
                       f"&nbsp;&nbsp;<span style='color:gray'>{html.escape(kind.category, quote=False)}</span>")
        layout.addWidget(title)
        layout.addWidget(_label(html.escape(kind.doc, quote=False)))
        if kind.formula:
            formula = _label(kind.formula)
            formula.setFont(theme.mono_font(9))
            formula.setStyleSheet("background: palette(alternate-base); padding: 6px; border-radius: 4px;")
            layout.addWidget(formula)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.id_edit = QLineEdit()
        self.id_edit.setToolTip("The block's id: its name in the generated code and in the file")
        self.id_edit.editingFinished.connect(self._rename)
        form.addRow("id", self.id_edit)
        self.trainable_box = QCheckBox("trainable")
        self.trainable_box.setObjectName("trainable")
        self.trainable_box.setToolTip(FROZEN_TIP)
        self.trainable_box.clicked.connect(self._set_trainable)
        form.addRow("", self.trainable_box)
        for p in kind.params:
            if p.hidden:
                continue
            editor = make_editor(p)
            editor.committed.connect(lambda value, name=p.name: self._commit(name, value))
            self.editors[p.name] = editor
            label = QLabel(p.name)
            label.setToolTip(editor.toolTip())
            offer_sweep(label, lambda name=p.name: self.sweep_parameter(name))
            form.addRow(label, editor)
        self.locked_note = _label(muted=True)
        self.locked_note.hide()
        layout.addWidget(self.locked_note)
        params_box = QGroupBox("Parameters")
        params_box.setLayout(form)
        layout.addWidget(params_box)
        self.edit_error = _label()
        self.edit_error.setTextFormat(Qt.TextFormat.PlainText)   # it quotes what was typed, tags and all
        self.edit_error.setStyleSheet(f"color: {theme.current().error.name()};")
        self.edit_error.hide()
        layout.addWidget(self.edit_error)

        facts = QFormLayout()
        self.facts = {name: _label() for name in ("Input", "Output", "Params", "MACs", "FLOPs")}
        for name, lab in self.facts.items():
            facts.addRow(name, lab)
            if name in ("MACs", "FLOPs"):
                lab.setToolTip(COST_TOOLTIP)
                facts.labelForField(lab).setToolTip(COST_TOOLTIP)
        self.arithmetic = _label()
        self.arithmetic.setFont(theme.mono_font(9))
        self.arithmetic.setToolTip("The shape and parameter rules worked out with this block's own numbers")
        facts.addRow(self.arithmetic)
        facts_box = QGroupBox("Shapes and cost")
        facts_box.setLayout(facts)
        layout.addWidget(facts_box)
        self.problems = QVBoxLayout()
        self.problems_box = QGroupBox("Problems")
        self.problems_box.setLayout(self.problems)
        layout.addWidget(self.problems_box)
        layout.addStretch(1)

    def _build_graph(self) -> None:
        layout = self._new_body()
        layout.addWidget(_label("<b style='font-size:15px'>Graph</b>"))
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(edits.NAME_LIMIT)
        self.name_edit.editingFinished.connect(self._set_name)
        self.description_edit = QPlainTextEdit()
        self.description_edit.setFixedHeight(90)
        self.description_edit.installEventFilter(self)
        form.addRow("Name", self.name_edit)
        form.addRow("Description", self.description_edit)
        box = QGroupBox("Properties")
        box.setLayout(form)
        layout.addWidget(box)
        self.totals = _label()
        layout.addWidget(self.totals)
        layout.addWidget(_label("Select a block to see and edit its parameters. Add blocks from the palette, "
                                "by double-clicking the canvas, or with Tab.", muted=True))
        layout.addStretch(1)

    def _set_name(self) -> None:
        edits.set_meta(self.session, "name", self.name_edit.text().strip() or "Untitled")
        if self.name_edit.text() != self.session.document.name:   # blank or spaced: the name it now has
            self.name_edit.setText(self.session.document.name)

    def _set_description(self) -> None:
        edits.set_meta(self.session, "description", self.description_edit.toPlainText())

    def eventFilter(self, obj, event) -> bool:
        if (self.block_id is None and obj is getattr(self, "description_edit", None)
                and event.type() == QEvent.Type.FocusOut):
            self._set_description()
        return super().eventFilter(obj, event)

    # -- refreshing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        doc = self.session.document
        if self.block_id is not None and self.block_id not in doc.blocks:
            self.show_block(None)
            return
        if self.block_id is None:
            self._refresh_graph()
        else:
            self._refresh_block()

    def _refresh_graph(self) -> None:
        doc, result = self.session.document, self.session.result
        if not self.name_edit.hasFocus():
            self.name_edit.setText(doc.name)
        if not self.description_edit.hasFocus():
            self.description_edit.setPlainText(doc.description)
        if result is not None:
            errors, warnings = len(result.errors), len(result.warnings)
            state = "no problems" if not errors and not warnings else \
                f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
            self.totals.setText(f"{len(doc.blocks)} blocks · {len(doc.edges)} wires<br>"
                                f"{result.total_params:,} parameters · {cost_text(result.total_macs)} per sample"
                                f"{' (' + partial_text(result) + ')' if result.not_computed else ''}"
                                f"<br>{state}")
        else:
            self.totals.setText(f"{len(doc.blocks)} blocks · {len(doc.edges)} wires<br>{self.session.pending_text}")

    def _refresh_block(self) -> None:
        doc, result = self.session.document, self.session.result
        block = doc.blocks[self.block_id]
        if not self.id_edit.hasFocus():
            self.id_edit.setText(self.block_id)
        locked = doc.locked
        self.locked_note.setVisible(bool(locked))
        self.locked_note.setText(f"Read-only: {locked}." if locked else "")
        self.id_edit.setReadOnly(bool(locked))
        for editor in self.editors.values():
            editor.setEnabled(not locked)
        r = result.blocks.get(self.block_id) if result is not None else None
        self.trainable_box.setChecked(block.trainable)
        self.trainable_box.setEnabled(not locked)
        self.trainable_box.setVisible(not block.trainable or (r is not None and r.ok and r.param_count > 0))
        full = block.full_params()
        for name, editor in self.editors.items():
            resolved = r.params.get(name) if r is not None and r.params else None
            editor.set_value(full[name], resolved)
        if r is not None and r.input_shapes:
            self.facts["Input"].setText("  ·  ".join(shape_text(s) for s in r.input_shapes))
        else:
            self.facts["Input"].setText("—" if get_kind(block.kind).input_count(full) == 0 else "not computed")
        ok = r is not None and r.ok
        self.facts["Output"].setText(shape_text(r.output_shape) if ok and r.output_shape is not None
                                     else ("—" if block.kind == "Output" else "not computed"))
        self.facts["Params"].setText(f"{r.param_count:,}" if ok else "—")
        self.facts["MACs"].setText(f"{human(r.macs)}  ({r.macs:,})" if ok else "—")
        self.facts["FLOPs"].setText(f"{human(r.flops)}  ({r.flops:,})" if ok else "—")
        self._refresh_arithmetic(r)
        self._refresh_problems(result.diagnostics_for(self.block_id) if result is not None else [])

    def _refresh_arithmetic(self, r) -> None:
        """'H_out = ⌊(28 + 2·2 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28': the line that fails in the error colour."""
        if r is None or not (r.input_shapes or r.kind == "Input"):
            self.arithmetic.hide()
            return
        worked = get_kind(r.kind).worked_out(r.params, r.input_shapes)
        lines = [*worked.shape, *([worked.params] if worked.params is not None else [])]
        if not lines:
            self.arithmetic.hide()
            return
        colour = theme.current().error.name()
        self.arithmetic.setText("<br>".join(html.escape(line.text) if line.ok else
                                            f"<span style='color:{colour}'>{html.escape(line.text)}  ✗</span>"
                                            for line in lines))
        self.arithmetic.show()

    def _refresh_problems(self, diags) -> None:
        while self.problems.count():
            w = self.problems.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.problems_box.setVisible(bool(diags))
        t = theme.current()
        for d in diags:
            colour = (t.error if d.severity == "error" else t.warning).name()
            self.problems.addWidget(_label(f"<span style='color:{colour}'>●</span> {html.escape(d.message, quote=False)}"))
            if d.fix:
                row = QHBoxLayout()
                button = QPushButton(edits.fix_label(d.fix))
                button.setObjectName("fix")
                button.clicked.connect(lambda _=False, f=d.fix: edits.apply_fix(self.session, f))
                row.addWidget(button)
                row.addStretch(1)
                holder = QWidget()
                holder.setLayout(row)
                row.setContentsMargins(0, 0, 0, 0)
                self.problems.addWidget(holder)

    # -- edits ----------------------------------------------------------------------------------
    def _commit(self, name: str, value) -> None:
        done = edits.set_param(self.session, self.block_id, name, value)
        self.edit_error.setText("" if done else done.reason)
        self.edit_error.setVisible(not done)
        if not done:
            self.refresh()

    def _set_trainable(self, checked: bool) -> None:
        done = edits.set_trainable(self.session, [self.block_id], bool(checked))
        self.edit_error.setText("" if done else f"trainable: {done.reason}")
        self.edit_error.setVisible(not done)
        self.refresh()

    def _rename(self) -> None:
        new = self.id_edit.text().strip()
        if self.block_id is None or new == self.block_id:
            return
        done = edits.rename(self.session, self.block_id, new)
        if done:
            self.block_id = new
            self.edit_error.hide()
        else:
            self.edit_error.setText(f"id: {done.reason}")
            self.edit_error.show()
            self.id_edit.setText(self.block_id)

    def editor(self, name: str) -> ParamEditor:
        return self.editors[name]
