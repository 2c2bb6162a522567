"""`layerloom --help` and `--version` answer without importing torch (or Qt)."""
import subprocess
import sys

import pytest

PROBE = """
import sys
from layerloom.app.main import main
try:
    main({args!r})
except SystemExit as exc:
    print("exit", exc.code)
print("loaded:", sorted(m for m in ("torch", "PySide6", "numpy", "layerloom.graph") if m in sys.modules))
"""


@pytest.mark.parametrize("args,expected", [(["--help"], "summary"), (["--version"], "layerloom ")])
def test_help_and_version_do_not_import_torch(args, expected):
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout and "exit 0" in out.stdout
    assert "loaded: []" in out.stdout, out.stdout


def test_python_dash_m_layerloom_is_the_layerloom_command():
    probe = ("import runpy, sys\nsys.argv = ['layerloom', '--version']\ntry:\n    runpy.run_module('layerloom', "
             "run_name='__main__')\nexcept SystemExit as exc:\n    print('exit', exc.code)\n"
             "print('loaded:', sorted(m for m in ('torch', 'PySide6') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from layerloom import __version__
    assert f"layerloom {__version__}" in out.stdout and "exit 0" in out.stdout
    assert "loaded: []" in out.stdout, out.stdout
    bad = subprocess.run([sys.executable, "-m", "layerloom", "no-such-command"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "no-such-command" in bad.stderr and "Traceback" not in bad.stderr


def test_a_command_still_gets_its_own_options(capsys):
    from layerloom.runtime.cli import run
    with pytest.raises(SystemExit):
        run(["train", "--help"])
    assert "--epochs" in capsys.readouterr().out


def test_every_command_module_has_its_help_line():
    from layerloom.runtime import cli
    assert set(cli.COMMAND_HELP) == set(cli.COMMAND_MODULES)


HELP_PROBE = """
import sys
from layerloom.runtime.cli import COMMANDS, run
for command in COMMANDS:
    try:
        run([command, "--help"])
    except SystemExit as exc:
        print(command, "exit", exc.code)
print("loaded:", sorted(m for m in ("torch", "PySide6") if m in sys.modules))
"""


def test_every_command_s_own_help_answers_without_torch():
    out = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from layerloom.runtime.cli import COMMANDS
    for command in COMMANDS:
        assert f"usage: layerloom {command} " in out.stdout and f"{command} exit 0" in out.stdout
    assert "loaded: []" in out.stdout, out.stdout


def test_the_parsers_choices_are_the_runtime_s_own():
    # the parsers name the formats and methods without importing their modules: the names must stay theirs
    from layerloom.runtime import explain, explain_cli, export, export_cli
    assert export_cli.FORMATS == tuple(export.FORMATS)
    assert (explain_cli.METHODS, explain_cli.BASELINES) == (explain.METHODS, explain.BASELINES)
