"""Starting the desktop app: command-line options, the window, `--screenshot`, and the error dialog."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from . import pyside_workarounds

pyside_workarounds.scan_imports_cheaply()   # Qt has just loaded: before the window's modules and torch
from . import background, settings, theme  # noqa: E402
from .window import MainWindow  # noqa: E402


# -- starting the app --------------------------------------------------------------------------
def _excepthook(kind, value, tb) -> None:
    """An unexpected error becomes a dialog with a plain message (details go to stderr)."""
    traceback.print_exception(kind, value, tb)
    app = QApplication.instance()
    if app is not None and not os.environ.get("LAYERLOOM_NO_ERROR_DIALOG"):
        QMessageBox.critical(app.activeWindow(), "Something went wrong",
                             f"Layerloom hit an unexpected problem and did not finish that action:\n\n{value}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="layerloom", description="Open the Layerloom editor.", allow_abbrev=False)
    p.add_argument("file", nargs="?", help="a .loom.json graph to open (default: the LeNet-5 preset)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    p.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme")
    p.add_argument("--size", default=(1600, 1000), type=_size, metavar="WxH",
                   help="window size for --screenshot (default 1600x1000)")
    p.add_argument("--select", metavar="BLOCK", help="select a block (the inspector shows it)")
    return p.parse_args(argv)


def _size(text: str) -> tuple[int, int]:
    """'1280x800' -> (1280, 800); anything else is a usage error that shows the form."""
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give WIDTHxHEIGHT in pixels, such as "
                                         "1280x800") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"{w}x{h} is out of range: each side from {MIN_SIDE} to {MAX_SIDE:,} "
                                         "pixels")
    return w, h


MIN_SIDE, MAX_SIDE = 100, 16_384        # Qt raises a window to its least size; 16k x 16k is 1 GiB of image


def _screenshot_problem(args) -> str | None:
    """Why `--screenshot` cannot do its work, found before any window is made, or None: no window
    could ask about it (a dialog offscreen waits for ever)."""
    from layerloom.graph import GraphFileError, load_graph
    from layerloom.runtime.path_problems import in_the_way
    out = Path(args.screenshot)
    problem = in_the_way(out, folder=False)
    if problem:
        return f"cannot write --screenshot {out}: {problem}; choose another path"
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        return f"cannot write --screenshot {out}: give a file name ending in .png (or .jpg, .bmp)"
    if args.file is not None:
        try:
            load_graph(args.file)
        except GraphFileError as exc:
            return " ".join(str(exc).split())
    return None


def _cores_for_training() -> None:
    """One intra-op thread for every thread of the window's process that has not chosen its own count:
    the window's, and the MKL calls no torch setting reaches. Training sets its own count, and so do
    jobs whose thread ends with them (runtime/threads.py: use_threads; background.job_threads); an idle
    OpenMP team in a long-lived thread would halve training's speed (runtime/threads.py says why).
    OpenMP and MKL read this when torch loads, which is after the window is up; a value the user set
    is kept, and where torch has loaded already it would change nothing."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


NO_WINDOW_HINT = ("or use a command such as `layerloom check FILE` (`layerloom --help` lists them); "
                  "`layerloom --screenshot OUT.png` draws the window without a display")


def display_problem(env=os.environ, platform: str = sys.platform, plugin: str | None = None) -> str | None:
    """Why the window cannot open on this Linux session, in words, or None. Qt itself would abort (a core
    dump, and advice to reinstall) where there is no display, or where its X11 plugin lacks a system
    library (libxcb-cursor0 on a fresh Ubuntu): that is checked by loading the plugin as Qt would."""
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return "there is no display to open the window on (DISPLAY is not set): run it in a desktop session " \
               "or over ssh -X, " + NO_WINDOW_HINT
    if env.get("WAYLAND_DISPLAY") and "QT_QPA_PLATFORM" not in env:
        return None                   # Qt may choose Wayland there
    import ctypes
    from PySide6.QtCore import QLibraryInfo
    plugin = plugin or os.path.join(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), "platforms",
                                    "libqxcb.so")
    if not os.path.exists(plugin):
        return None                   # another layout of Qt: let Qt say what it finds
    try:
        ctypes.CDLL(plugin, mode=os.RTLD_LAZY)          # what Qt loads next; loaded once, whoever loads it
    except OSError as exc:
        return (f"the window cannot open: Qt's X11 plugin cannot load ({exc}). Install the missing system "
                "library (on Debian or Ubuntu: sudo apt install libxcb-cursor0 libxkbcommon-x11-0), "
                + NO_WINDOW_HINT)
    return None


def launch(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    _cores_for_training()
    if args.screenshot:
        problem = _screenshot_problem(args)
        if problem:
            print(f"layerloom: {problem}", file=sys.stderr)
            return 2
        if "QT_QPA_PLATFORM" not in os.environ:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = None if QApplication.instance() else display_problem()     # (an app made: Qt has its display)
    if problem:
        print(f"layerloom: {problem}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "layerloom"])
    settings.ensure_identity()
    mode = args.theme or settings.theme()
    theme.apply(mode)
    win = MainWindow(restore_settings=not args.screenshot)
    win.theme_mode = mode
    win.files.ask_about_code = not args.screenshot     # no one could answer: its code is refused, not run
    shown_first = bool(args.file) and not args.screenshot
    if shown_first:       # before FILE opens: a box that says why it cannot is then over the window, not alone
        win.show()
    if args.file:
        win.files.open(args.file, ask=False)        # (--screenshot has checked that it opens)
    else:
        from layerloom.presets import preset_path
        win.files.open_preset(preset_path("lenet5"))
        win.statusBar().clearMessage()
    if args.select:
        blocks = win.session.document.blocks
        if args.select not in blocks:
            from layerloom.graph.quoting import shown
            names = ", ".join(shown(b, 40) for b in list(blocks)[:12]) + (", …" if len(blocks) > 12 else "")
            print(f"layerloom: --select {shown(args.select, 40)}: the graph has no block of that id; its blocks are "
                  f"{names or 'none'}", file=sys.stderr)
            if args.screenshot:
                win.close()
                background.wait_for_all()
                return 2
        win.scene.select_blocks([args.select])
    if args.screenshot:
        code = _screenshot(app, win, args.screenshot, args.size)
        background.wait_for_all()     # a data set still loading: the process must not end under it
        return code
    sys.excepthook = _excepthook
    if not shown_first:
        win.show()
    app.processEvents()
    win.view.fit(legible=True)
    QTimer.singleShot(0, win.files.offer_recovery)
    # closed already (in the events just processed): Qt quits when the last window closes *in* the loop,
    # so the loop would wait for ever with no window to close
    code = app.exec() if win.isVisible() else 0
    background.wait_for_all()
    return code


def _screenshot(app, win: MainWindow, out: str, size: tuple[int, int]) -> int:
    win.resize(*size)
    win.show()
    for _ in range(3):
        app.processEvents()
    win.view.fit(legible=True)
    win.session.flush()               # the settled window: analysed (waits for analysis to load),
    if not win.session.unavailable:
        win.build_later()             # every panel built,
    if win.later_built:               # (a library could not be loaded: the window as it is, and why)
        win.request_memory_estimate()     # and the training-memory line filled in
        win.memory.wait()
    unavailable = win.unavailable
    app.processEvents()
    pixmap = win.grab()
    written = _save_image(pixmap, Path(out))
    win.session.undo_stack.setClean()
    win.keeps_layout = False          # the offscreen size is not the one a person left the window at
    win.close()
    if written is not True:
        print(f"layerloom: {written}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({pixmap.width()}×{pixmap.height()})")
    if unavailable:
        print(f"layerloom: {unavailable}", file=sys.stderr)
        return 1
    return 0


def _save_image(pixmap, out: Path):
    """Write the image beside its place, then put it there (no half-written file); True, or why not."""
    from layerloom.runtime.path_problems import os_error_text
    fmt = {".jpg": "JPG", ".jpeg": "JPG", ".bmp": "BMP"}.get(out.suffix.lower(), "PNG")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not pixmap.save(str(tmp), fmt):
            raise OSError(f"{out} could not be written as an image (the disk may be full)")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return f"cannot write --screenshot: {os_error_text(exc) if exc.errno else exc}"
    return True
