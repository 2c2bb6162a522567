"""View code: the PyTorch source generated for the graph, read-only, monospaced, copyable."""
from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from layerloom.graph.compiler import CompileError, generated_code

from .. import theme


def code_or_problem(doc, data: dict | None = None) -> tuple[str, str | None]:
    """(the generated source, None) or ("", why there is no code yet). `data`: the chosen data set's facts,
    which "auto" parameters follow (as the Summary shows them and training builds them)."""
    try:
        return generated_code(doc, data), None
    except CompileError as exc:
        problems = exc.diagnostics
        what = "a problem" if len(problems) == 1 else f"{len(problems)} problems"
        return "", f"The graph has {what} to fix before it can become code:\n\n" + \
            "\n".join(f"• {d.text}" for d in problems)
    except Exception as exc:  # never a traceback in front of the user
        return "", f"The code could not be generated: {exc}"


class CodeDialog(QDialog):
    def __init__(self, doc, parent=None, data: dict | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Code — {doc.name}")
        self.resize(760, 640)
        code, problem = code_or_problem(doc, data)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(theme.mono_font(10))
        # code keeps its lines (scroll sideways); the words of a problem wrap to the window
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap if code else
                                  QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setPlainText(code or problem)
        note = QLabel("The PyTorch module Layerloom builds from this graph (torch.fx generated code)."
                      if code else "No code yet.", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setEnabled(bool(code))
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.text)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())
        self.copy_button.setText("Copied")
