"""Stopping `layerloom export` (Ctrl-C, SIGTERM) and what a stopped or killed export leaves behind.

Ctrl-C used to raise KeyboardInterrupt wherever it landed: inside torch's import of torch._dynamo, which a
format's exporter caught, the export went on with that module half-loaded, every later format failed with a
false reason ("partially initialized module 'torch._dynamo'") and the command said 1, not 130. SIGTERM killed
the process and left its hidden staging folder in the destination for good. Now a stop is a request the
export acts on between formats (the destination left as it was), and the next export into a folder removes
the staging folders of exports that were killed, never those of a live one."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layerloom.graph import compile_graph, save_graph
from layerloom.graph.fileformat import graph_to_dict
from layerloom.runtime import export
from layerloom.runtime.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from layerloom.runtime.cli import run
from layerloom.runtime.export import export_model

from .staging_helpers import killed_and_live, staging
from .trainer_helpers import tiny_linear

ROOT = Path(__file__).resolve().parents[2]


def _tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.loom.json"
    save_graph(tiny_linear(), path)
    return path


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)       # what Ctrl-C in the terminal sends


def _later(made: list):
    """A format that must not be started: it says so if it is."""
    def format_after_the_stop(src, path):
        made.append(path)
        raise export.ExportError("started after the stop")
    return format_after_the_stop


def test_a_ctrl_c_an_exporter_swallowed_still_stops_the_export_with_130_and_leaves_nothing(tmp_path, monkeypatch,
                                                                                           capsys):
    """The reviewer's case: the interrupt lands inside torch's import machinery, which swallows it, and the
    format then fails with an unrelated error. That failure is the interruption's, and is said as such."""
    def swallowing(src, path):
        try:
            _ctrl_c()
        except KeyboardInterrupt:             # (what the half-finished import of torch._dynamo did with it)
            pass
        raise AttributeError("partially initialized module 'torch._dynamo' has no attribute 'exc'")
    later = []
    monkeypatch.setitem(export.FORMATS, "onnx", (swallowing, "{stem}.onnx"))
    monkeypatch.setitem(export.FORMATS, "pt2", (_later(later), "{stem}.pt2"))
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out"
    assert run(["export", str(_tiny(tmp_path)), "-f", "safetensors", "-f", "onnx", "-f", "pt2",
                "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert "layerloom export: interrupted" in captured.err and "Stopping after this format" in captured.err
    assert "not exported" not in captured.out and "torch._dynamo" not in captured.out + captured.err
    assert later == [] and _tree(out) == []                       # no format after it, no file, no staging folder
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_ctrl_c_during_a_format_stops_before_the_next_and_keeps_the_earlier_export(tmp_path, monkeypatch, capsys):
    graph = _tiny(tmp_path)
    out = tmp_path / "out"
    export_model(graph, ["safetensors"], out)
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    real = export.FORMATS["safetensors"][0]

    def then_ctrl_c(src, path):
        result = real(src, path)
        _ctrl_c()
        return result
    later = []
    monkeypatch.setitem(export.FORMATS, "safetensors", (then_ctrl_c, "{stem}.safetensors"))
    monkeypatch.setitem(export.FORMATS, "state-dict", (_later(later), "{stem}.state_dict.pt"))
    assert run(["export", str(graph), "-f", "safetensors", "-f", "state-dict", "--out", str(out)]) == 130
    assert "Stopping after this format; nothing is exported" in capsys.readouterr().err
    assert later == []
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier      # as it was: no new file, no staging


def test_the_next_export_removes_staging_folders_of_killed_exports_and_keeps_live_ones(tmp_path):
    out = tmp_path / "out"
    killed, live = killed_and_live(out, "tiny.onnx")
    kept = [
        live,                                                                                         # another
        staging(out, 1, {"pid": 1, "started": 0.0, "host": "another-machine.example"}, "elsewhre", "tiny.onnx"),
        out / ".export-abcdefgh.tmp",                # an earlier Layerloom's: whose it is, is not known
        out / ".export-notes",                       # not a name Layerloom gives
    ]
    kept[2].mkdir()
    kept[3].mkdir()
    (out / ".export-7-abcdefgh.tmp").write_text("a file, not a staging folder")
    src, results = export_model(_tiny(tmp_path), ["safetensors"], out)
    assert results[0].verified
    assert not any(p.exists() for p in killed)
    assert all(p.exists() for p in kept) and (out / ".export-7-abcdefgh.tmp").is_file()
    assert (kept[0] / "tiny.onnx").read_bytes() == b"half-written"        # a live export's files untouched
    (warning,) = [w for w in src.warnings if ".export-abcdefgh.tmp" in w]
    assert "cut short" in warning and "remove it" in warning


def test_a_checkpoint_whose_optimizer_state_is_cut_short_still_exports_its_weights(tmp_path):
    """Export carries the weights; state.pt holds the optimizer's state, which resuming needs (and still
    refuses when damaged), not export."""
    doc = tiny_linear()
    model = compile_graph(doc, seed=0)
    ckpt = save_checkpoint(tmp_path / "run" / "checkpoints", "epoch-0001-step-0000001", model.state_dict(),
                           {"optimizer": {"state": {}, "param_groups": []}}, {
                               "graph": graph_to_dict(doc), "graph_name": doc.name, "epoch": 1, "step": 1,
                               "step_in_epoch": 0})
    state = ckpt / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="state.pt"):
        load_checkpoint(tmp_path / "run")
    _, (result,) = export_model(tmp_path / "run", ["safetensors"], tmp_path / "out")
    assert result.verified and result.path.is_file()


SIGTERM_EXPORT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from layerloom.runtime import export
    from layerloom.runtime.cli import run

    go = Path(sys.argv[1])

    def waiting(src, path):                 # a format half-way: its file begun in the staging folder
        path.write_bytes(b"half-written")
        print("making it", flush=True)
        while not go.exists():
            time.sleep(0.05)
        return export.FORMATS["safetensors"][0](src, path)

    export.FORMATS["onnx"] = (waiting, "{stem}.onnx")
    sys.exit(run(sys.argv[2:]))
""")


def test_sigterm_stops_an_export_cleanly_without_leaving_its_staging_folder(tmp_path):
    """`kill` (or a service manager, a logout) sends SIGTERM: the export stops after the format it is making,
    as after Ctrl-C, and its hidden staging folder goes with it."""
    out, go = tmp_path / "out", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_EXPORT, str(go), "export", str(_tiny(tmp_path)),
                             "-f", "onnx", "-f", "safetensors", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or lines[-1] not in ("making it\n", ""):
            lines.append(proc.stdout.readline())
        assert lines[-1] == "making it\n", (lines, proc.stderr.read())
        assert len(list(out.glob(".export-*.tmp"))) == 1              # the export is under way, in its folder
        proc.send_signal(signal.SIGTERM)
        go.touch()
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Stopping after this format" in err and "Traceback" not in err
    assert _tree(out) == []
