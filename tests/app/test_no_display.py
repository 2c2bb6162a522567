"""`layerloom` where the window cannot open: no display, or a Qt X11 plugin that cannot load (a system
library missing). Qt itself would abort with a core dump and advise reinstalling; Layerloom says why in
one line, what to do instead, and exits with 1."""
from __future__ import annotations

import os
import subprocess
import sys

from layerloom.app.launch import display_problem


def test_without_a_display_the_app_says_so_in_one_line_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-m", "layerloom.app.main"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("layerloom: there is no display to open the window on (DISPLAY is not set)")
    assert "layerloom check FILE" in line and "--screenshot" in line


def test_an_x11_plugin_that_cannot_load_is_named_with_the_loader_s_reason(tmp_path):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"not a shared library")          # what the dynamic loader refuses, as it refuses a
    problem = display_problem({"DISPLAY": ":0"}, "linux", str(plugin))   # plugin whose library is missing
    assert problem.startswith(f"the window cannot open: Qt's X11 plugin cannot load ({plugin}: ")
    assert "libxcb-cursor0" in problem
    # where Qt is told where to draw, on another system, or on Wayland, Layerloom leaves it to Qt
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", str(plugin)) is None
    assert display_problem({}, "darwin", str(plugin)) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", str(plugin)) is None
