"""A wrapping grid of small samples with captions: data set examples and validation predictions.

Images are uint8 arrays ([H, W] grey, [C, H, W] with C = 1 or 3) turned into QImages once; text
samples (token sequences decoded to words) show as one line each. A cell can be marked wrong
(red frame and caption) or right. Painting is plain QPainter: 32 thumbnails cost well under a
millisecond, so the grid simply repaints when its captions change.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .. import theme


def to_qimage(arr: np.ndarray) -> QImage | None:
    """uint8 [H, W], [1, H, W] or [3, H, W] as a QImage (a copy), None for anything else."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        return None
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = np.ascontiguousarray(a)
        return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8).copy()
    if a.ndim == 3 and a.shape[2] == 3:
        a = np.ascontiguousarray(a)
        return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_RGB888).copy()
    return None


class SampleGrid(QWidget):
    def __init__(self, cell: int = 44, caption_lines: int = 1, min_cell: int = 0, parent=None):
        """`cell`: thumbnail size; with `min_cell`, thumbnails shrink down to it to keep one row."""
        super().__init__(parent)
        self.cell = cell
        self.base_cell = cell
        self.min_cell = min_cell
        self.caption_lines = caption_lines
        self.images: list[QImage | None] = []
        self.texts: list[str] = []
        self.captions: list[str] = []
        self.marks: list[str | None] = []
        self.tips: list[str] = []
        self.empty_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)
        f = QFont(self.font())
        if f.pointSizeF() > 0:
            f.setPointSizeF(max(7.0, f.pointSizeF() - 1.5))
        self.small = f

    # -- content ----------------------------------------------------------------------------------
    def set_samples(self, images=None, texts=None, captions=(), marks=None, tips=None) -> None:
        """Images (QImage or uint8 arrays) or texts, one caption each; marks: "wrong" / "right" / None."""
        self.images = [im if isinstance(im, QImage) or im is None else to_qimage(im) for im in (images or [])]
        self.texts = list(texts or [])
        n = max(len(self.images), len(self.texts))
        self.captions = list(captions) + [""] * (n - len(captions))
        self.marks = list(marks or [None] * n)
        self.tips = list(tips or [""] * n)
        self.updateGeometry()
        self.update()

    def set_marks(self, captions, marks, tips=None) -> None:
        self.captions, self.marks = list(captions), list(marks)
        if tips is not None:
            self.tips = list(tips)
        self.update()

    def clear(self, text: str = "") -> None:
        self.empty_text = text
        self.set_samples()

    def count(self) -> int:
        return max(len(self.images), len(self.texts))

    # -- geometry -----------------------------------------------------------------------------------
    def _caption_h(self) -> int:
        return (self.fontMetrics().height() - 2) * self.caption_lines if self.captions and any(self.captions) else 0

    def _cell_size(self) -> QSize:
        return QSize(self.cell + 6, self.cell + 6 + self._caption_h())

    def _columns(self, width: int) -> int:
        return max(1, width // self._cell_size().width())

    def hasHeightForWidth(self) -> bool:
        return True

    def _fit(self, width: int) -> None:
        if self.min_cell and self.count():
            self.cell = int(max(self.min_cell, min(self.base_cell, width // self.count() - 6)))

    def resizeEvent(self, event) -> None:
        self._fit(self.width())
        super().resizeEvent(event)

    def heightForWidth(self, width: int) -> int:
        self._fit(width)
        n = self.count()
        if self.texts:
            return max(20, n * (self.fontMetrics().height() + 4) + 4)
        if n == 0:
            return 24 if self.empty_text else 0
        rows = -(-n // self._columns(width))
        return rows * self._cell_size().height() + 2

    def sizeHint(self) -> QSize:
        return QSize(8 * self._cell_size().width(), self.heightForWidth(8 * self._cell_size().width()))

    def minimumSizeHint(self) -> QSize:
        return QSize(self._cell_size().width() * 2, 20)

    def _rects(self):
        cs = self._cell_size()
        cols = self._columns(self.width())
        used = cols * cs.width()
        x0 = max(0, (self.width() - used) // 2)
        for i in range(self.count()):
            r, c = divmod(i, cols)
            yield i, QRect(x0 + c * cs.width(), r * cs.height(), cs.width(), cs.height())

    # -- painting -----------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setFont(self.small)
        if self.count() == 0:
            if self.empty_text:
                p.setPen(t.text_muted)
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        if self.texts:
            self._paint_texts(p, t)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        cap_h = self._caption_h()
        for i, cell in self._rects():
            img = self.images[i] if i < len(self.images) else None
            box = QRect(cell.x() + 3, cell.y() + 3, self.cell, self.cell)
            if img is not None:
                scale = min(box.width() / img.width(), box.height() / img.height())
                w, h = img.width() * scale, img.height() * scale
                target = QRectF(box.x() + (box.width() - w) / 2, box.y() + (box.height() - h) / 2, w, h)
                p.drawImage(target, img)
            mark = self.marks[i] if i < len(self.marks) else None
            if mark == "wrong":
                p.setPen(QPen(t.error, 2))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(box.adjusted(-1, -1, 1, 1))
            if cap_h:
                p.setPen(t.error if mark == "wrong" else t.text_muted)
                text_rect = QRect(cell.x(), box.bottom() + 2, cell.width(), cap_h)
                caption = self.fontMetrics().elidedText(self.captions[i], Qt.TextElideMode.ElideRight, cell.width())
                p.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, caption)

    def _paint_texts(self, p: QPainter, t) -> None:
        line = self.fontMetrics().height() + 4
        for i, text in enumerate(self.texts):
            y = 2 + i * line
            mark = self.marks[i] if i < len(self.marks) else None
            cap = self.captions[i]
            cap_w = min(self.width() // 3, self.fontMetrics().horizontalAdvance(cap) + 12)
            p.setPen(t.error if mark == "wrong" else t.text_muted)
            p.drawText(QRect(4, y, cap_w, line), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, cap)
            p.setPen(t.text)
            body = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, self.width() - cap_w - 8)
            p.drawText(QRect(4 + cap_w, y, self.width() - cap_w - 8, line),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, body)

    def event(self, e) -> bool:
        if e.type() == e.Type.ToolTip:
            pos = e.pos()
            for i, cell in self._rects():
                if cell.contains(pos) and i < len(self.tips) and self.tips[i]:
                    self.setToolTip(self.tips[i])
                    break
            else:
                self.setToolTip("")
        return super().event(e)
