"""An export is all or nothing: what can fail is checked before anything is written, and an export that
fails on the way leaves the folder as it was, with a message that names the problem."""
import errno
import json

import pytest
from safetensors.torch import load_file

from layerloom.graph import save_graph
from layerloom.runtime.export import ExportError, export_model, formats

from .trainer_helpers import tiny_linear


def _tiny(tmp_path):
    path = tmp_path / "tiny.loom.json"
    save_graph(tiny_linear(), path)
    return path


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_folder_in_the_way_of_model_json_stops_the_export_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    (out / "model.json").mkdir(parents=True)
    with pytest.raises(ExportError, match=r"model\.json.* is a folder.*nothing was exported"):
        export_model(_tiny(tmp_path), ["safetensors", "state-dict"], out)
    assert _tree(out) == ["model.json"]


@pytest.mark.parametrize("in_the_way, words", [("tiny.safetensors/x", r"tiny\.safetensors.* is a folder"),
                                               ("project/old.txt", r"project.* is not empty")])
def test_a_format_whose_place_is_taken_stops_the_export_before_anything_is_written(tmp_path, in_the_way, words):
    out = tmp_path / "out"
    (out / in_the_way).parent.mkdir(parents=True)
    (out / in_the_way).write_text("mine")
    with pytest.raises(ExportError, match=words):
        export_model(_tiny(tmp_path), ["state-dict", "safetensors", "project"], out)
    assert _tree(out) == sorted([in_the_way.split("/")[0], in_the_way])


def test_a_failure_writing_model_json_leaves_no_file_and_keeps_the_earlier_export(tmp_path, monkeypatch):
    out = tmp_path / "out"
    path = _tiny(tmp_path)
    _, first = export_model(path, ["safetensors"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "model.json"))
    monkeypatch.setattr(formats, "atomic_write_text", full_disk)
    with pytest.raises(ExportError, match=r"model\.json: the disk is full.*nothing was exported"):
        export_model(path, ["safetensors", "state-dict", "project"], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before          # no temp folder, no new file
    assert load_file(str(first[0].path)) and json.loads(before["model.json"])["files"] == {
        "safetensors": "tiny.safetensors"}


def test_a_failed_export_into_a_new_folder_leaves_no_folder(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(formats, "atomic_write_text", full_disk)
    with pytest.raises(ExportError, match="the disk is full"):
        export_model(_tiny(tmp_path), ["safetensors"], tmp_path / "new" / "out")
    assert not (tmp_path / "new").exists()


def test_the_command_line_says_why_nothing_was_exported_in_one_line(tmp_path, capsys):
    from layerloom.app.main import main
    out = tmp_path / "out"
    (out / "model.json").mkdir(parents=True)
    assert main(["export", str(_tiny(tmp_path)), "-f", "safetensors", "-f", "pt2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"layerloom export: {out / 'model.json'} is a folder, in the way of the file model.json: move it "
                   "or choose another folder (nothing was exported)")
    assert _tree(out) == ["model.json"]


def test_an_export_interrupted_while_its_files_move_into_place_puts_the_earlier_ones_back(tmp_path, monkeypatch):
    import os
    from layerloom.runtime.export import staging
    out = tmp_path / "out"
    path = _tiny(tmp_path)
    export_model(path, ["safetensors"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class Interrupting:                  # Ctrl+C after the new weights file took the old one's place
        moves = 0

        def replace(self, a, b):
            Interrupting.moves += 1
            if Interrupting.moves == 3:
                raise KeyboardInterrupt
            os.replace(a, b)

        def __getattr__(self, name):
            return getattr(os, name)
    monkeypatch.setattr(staging, "os", Interrupting())
    with pytest.raises(KeyboardInterrupt):
        export_model(path, ["safetensors", "state-dict"], out)
    assert Interrupting.moves == 4                      # three moves, then the old weights file put back
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_files_of_an_earlier_export_that_model_json_no_longer_lists_are_named(tmp_path):
    out = tmp_path / "out"
    path = _tiny(tmp_path)
    export_model(path, ["safetensors", "state-dict"], out)
    src, _ = export_model(path, ["safetensors"], out)
    assert json.loads((out / "model.json").read_text())["files"] == {"safetensors": "tiny.safetensors"}
    assert any("tiny.state_dict.pt" in w and "earlier export" in w for w in src.warnings), src.warnings
    src, _ = export_model(path, ["safetensors"], tmp_path / "new")
    assert not any("earlier export" in w for w in src.warnings)
