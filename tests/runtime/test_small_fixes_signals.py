"""The "interrupted (...)" line names the signal that came. `kill` (a service manager, a logout, a sweep's
coordinator) sends SIGTERM, which `layerloom export` and `train` take as a stop request, as they take Ctrl-C; the
line they ended with still said "interrupted (Ctrl-C)", which sent a person looking for a keyboard that nobody
touched."""
import os
import signal

from layerloom.graph import save_graph
from layerloom.presets import preset_path
from layerloom.runtime import export, train_cli
from layerloom.runtime.cli import run

from .trainer_helpers import tiny_linear


def _tiny(tmp_path):
    path = tmp_path / "tiny.loom.json"
    save_graph(tiny_linear(), path)
    return str(path)


def _then(sent, fmt="safetensors"):
    """The format `fmt`, after which the process gets the signals `sent` (as from `kill` or the terminal)."""
    real = export.FORMATS[fmt][0]

    def format_then_signals(src, path):
        result = real(src, path)
        for signum in sent:
            os.kill(os.getpid(), signum)
        return result
    return format_then_signals


def _export(tmp_path, monkeypatch, sent) -> int:
    monkeypatch.setitem(export.FORMATS, "safetensors", (_then(sent), "{stem}.safetensors"))
    return run(["export", _tiny(tmp_path), "-f", "safetensors", "-f", "state-dict", "--out", str(tmp_path / "out")])


def test_an_export_stopped_by_sigterm_says_sigterm(tmp_path, monkeypatch, capsys):
    before = signal.getsignal(signal.SIGTERM)
    code = _export(tmp_path, monkeypatch, [signal.SIGTERM])
    err = capsys.readouterr().err
    assert code == 130
    assert "Stopping after this format" in err and "Traceback" not in err
    assert err.splitlines()[-1] == "layerloom export: interrupted (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_export_stopped_by_ctrl_c_still_says_ctrl_c(tmp_path, monkeypatch, capsys):
    code = _export(tmp_path, monkeypatch, [signal.SIGINT])
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == "layerloom export: interrupted (Ctrl-C)"


def test_sigterm_then_ctrl_c_names_both_in_the_order_they_came(tmp_path, monkeypatch, capsys):
    """SIGTERM asks the export to stop after the format; the Ctrl-C that follows stops it at once."""
    code = _export(tmp_path, monkeypatch, [signal.SIGTERM, signal.SIGINT])
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == "layerloom export: interrupted (SIGTERM, then Ctrl-C)"


class _StuckTrainer:
    """A trainer that does not get to its next step: stopping it (SIGTERM) is not enough, a Ctrl-C then aborts."""

    def __init__(self, doc, overrides, callback, **kwargs):
        self.stopped = False

    def stop(self):
        self.stopped = True

    def run(self):
        os.kill(os.getpid(), signal.SIGTERM)
        assert self.stopped                       # the SIGTERM asked for a clean stop
        os.kill(os.getpid(), signal.SIGINT)       # the person gives up waiting for it
        raise AssertionError("the second stop request did not abort the run")


def test_a_train_stopped_after_sigterm_names_sigterm_too(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_cli, "Trainer", _StuckTrainer, raising=False)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert run(["train", str(preset_path("mlp")), "--out", str(tmp_path / "runs"), "--no-tensorboard"]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "layerloom train: interrupted (SIGTERM, then Ctrl-C)", err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_keyboard_interrupt_no_signal_raised_still_says_ctrl_c(monkeypatch, capsys):
    """(What Python raises for Ctrl-C where no handler of the command's is installed.)"""
    from layerloom.runtime import cli

    def pressed(*_args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "load_or_say", pressed)
    assert run(["check", "any.loom.json"]) == 130
    assert capsys.readouterr().err == "\nlayerloom check: interrupted (Ctrl-C)\n"
