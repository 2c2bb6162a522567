"""The Training panel says how an image folder is read: a train/ with test/ and no val/ validates on test/,
pictures of different sizes are resized, macOS resource files are skipped. The notes are Layerloom's own
(load_dataset's), each a line of its own under the data set's line, as text (a file name is not markup)."""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument

from layerloom.runtime.data import load_dataset

LEFT = Qt.MouseButton.LeftButton


def write_train_test(root):
    """root/train/<digit>/ and root/TEST/<digit>/ with 28×28 grey pictures, one of them 32×32, one named like
    markup (<0>.png, the smallest by name), and a macOS resource file."""
    for split, count in (("train", 3), ("TEST", 1)):
        for digit in range(10):
            folder = root / split / str(digit)
            folder.mkdir(parents=True)
            for n in range(count):
                side = 32 if (split, digit, n) == ("train", 9, 0) else 28
                name = "<0>.png" if (split, digit, n) == ("train", 0, 0) else f"p{n}.png"
                Image.fromarray(np.full((side, side), digit * 20 + n, dtype=np.uint8)).save(folder / name)
    (root / "train" / "3" / "._p0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    return root


def shown_lines(html_text: str) -> list[str]:
    doc = QTextDocument()
    doc.setHtml(html_text)
    return doc.toPlainText().splitlines()


def test_the_data_line_shows_how_a_train_and_test_folder_is_read(win, ui, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = write_train_test(tmp_path / "digits")
    notes = load_dataset("image-folder", path=str(folder), input_shape=(1, 28, 28)).info.notes
    assert any("TEST/ is used as the validation split" in n for n in notes) and len(notes) == 3, notes
    ui.panel.dataset.setCurrentIndex(ui.panel.dataset.findData("image-folder"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    qtbot.mouseClick(ui.panel.choose, LEFT)
    qtbot.waitUntil(lambda: ui.ready and ui.bundle is not None, timeout=30_000)
    lines = shown_lines(ui.panel.data_info.text())
    assert lines[0].startswith("1×28×28 per sample") and "30 train / 10 val" in lines[0]
    assert lines[1:] == list(notes)                 # each note a line of its own, <0>.png as written
    assert not any(n in t for n in notes for t in ui.panel.check_texts())      # not listed again as a problem
    label = ui.panel.data_info
    assert label.isVisible()
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()), timeout=5_000)   # none cut off
    ui.panel.grab().save(str(tmp_path / "notes_panel.png"))


def test_before_loading_the_notes_of_the_folder_s_description_show(win, ui, qtbot, tmp_path, monkeypatch):
    """Described offline (before the pictures are read), the folder already says which split validates."""
    from PySide6.QtWidgets import QFileDialog

    import layerloom.app.training.data_loader as data_loader
    from .helpers import Gate

    folder = write_train_test(tmp_path / "digits")
    gate = Gate(data_loader.load_dataset)           # the load waits until the test lets it go
    monkeypatch.setattr(data_loader, "load_dataset", gate)
    ui.panel.dataset.setCurrentIndex(ui.panel.dataset.findData("image-folder"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    try:
        qtbot.mouseClick(ui.panel.choose, LEFT)
        assert ui.bundle is None
        assert "There is no val/ folder, so TEST/ is used as the validation split." in \
            shown_lines(ui.panel.data_info.text())
    finally:
        gate.opened.set()
    qtbot.waitUntil(lambda: not ui.loader.busy, timeout=30_000)
