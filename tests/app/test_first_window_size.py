"""A first start (no layout saved) on a laptop screen: the window opened at 1440×900 whatever the screen,
so on 1280×800 the Inspector's fields and the graph's totals began beyond the screen's right edge."""
from PySide6.QtCore import QSize

from layerloom.app.window import MainWindow, first_size

from .helpers import close_without_questions


def test_the_first_window_fits_the_screen_it_opens_on(qtbot):
    w = MainWindow(restore_settings=True)              # nothing saved yet: the first start's size
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.show()
    qtbot.waitExposed(w)
    room = w.screen().availableGeometry()              # the offscreen screen: 800×800
    assert room.width() < 1440
    assert w.frameGeometry().width() <= room.width() and w.frameGeometry().height() <= room.height()
    inspector = w.docks["inspector"]
    right = inspector.mapTo(w, inspector.rect().topRight()).x()
    assert inspector.isVisible() and right < w.width() <= room.width()


def test_first_size_on_common_screens():
    assert first_size(QSize(2560, 1400)) == QSize(1440, 900)      # a large screen: the full first size
    assert first_size(QSize(1280, 770)) == QSize(1264, 730)       # 1280×800 less a panel bar
    assert first_size(QSize(1366, 728)) == QSize(1350, 688)
    assert first_size(QSize(300, 200)) == QSize(640, 480)         # never smaller than a usable window
