"""Export file names keep a graph's name in any script, and stay safe on Windows, macOS and Linux."""
import unicodedata
import zipfile

import pytest
import torch
from hypothesis import given, strategies as st
from safetensors.torch import load_file

from layerloom.graph import save_graph
from layerloom.runtime.export import export_model
from layerloom.runtime.runs import create_run_dir, slug

from .trainer_helpers import tiny_linear

WINDOWS_REFUSED = set('<>:"/\\|?*')
WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"{p}{d}" for p in ("com", "lpt") for d in "0123456789¹²³")}


def _tiny(name: str, path):
    save_graph(tiny_linear(name), path)
    return path


def test_graphs_named_in_other_scripts_export_to_files_of_their_own(tmp_path):
    out = tmp_path / "exports"
    files = []
    for i, (name, formats) in enumerate((("模型", ["safetensors", "pt2"]), ("模型二", ["safetensors"]),
                                         ("Μοντέλο", ["safetensors"]), ("модель", ["safetensors"]))):
        _, results = export_model(_tiny(name, tmp_path / f"g{i}.loom.json"), formats, out)
        assert all(r.verified for r in results), [r.line() for r in results]
        assert all(r.path.name.startswith(name.lower() + ".") for r in results), [r.path.name for r in results]
        files += [r.path for r in results]
    assert len({p.name for p in files}) == 5
    for path in files:                                     # each reloads in its own reader
        if path.suffix == ".pt2":
            assert {n.split("/")[0] for n in zipfile.ZipFile(path).namelist()} == {path.stem}
            torch.export.load(str(path)).module()(torch.rand(2, 4))
        else:
            assert load_file(str(path))


@pytest.mark.parametrize("name, expected", [
    ("LeNet-5", "lenet-5"), ("é", "é"), ("e\u0301", "é"), ("a/b\\c:d", "a-b-c-d"), ("x\u202eevil\x00", "x-evil"),
    ("\u0301\u0301abc", "abc"), ("CON", "con-graph"), ("lpt1", "lpt1-graph"), ("nul", "nul-graph"),
    ("hello/../..", "hello"), ("", "graph"), ("\n\t ", "graph"), ("हिन्दी नेटवर्क", "हिन्दी-नेटवर्क"),
])
def test_name_parts(name, expected):
    assert slug(name) == expected


@given(st.text(max_size=60))
def test_any_name_gives_a_file_name_every_system_takes(tmp_path_factory, name):
    part = slug(name)
    assert 0 < len(part) <= 50
    assert not WINDOWS_REFUSED & set(part) and part not in (".", "..")
    assert all(unicodedata.category(ch)[0] in "LMN" or ch == "-" for ch in part)
    assert part.lower() not in WINDOWS_DEVICES and not part.endswith((" ", "."))
    assert part == unicodedata.normalize("NFC", part)
    run = create_run_dir(tmp_path_factory.mktemp("runs"), name, now=0)
    assert run.name.endswith(part) and run.is_dir()
    assert len(run.name.encode("utf-8")) <= 255
