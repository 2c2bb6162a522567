"""Code a graph file or an imported Python file can reach.

- A file that calls sys.exit() as it is imported (or in its model's constructor or forward) used to end the
  command with that status, silently: `layerloom import x.py:Net` said 0 for `raise SystemExit(0)` and 3
  (which the help documents as "written, but outputs differ") for sys.exit(3). Now it is a failed import,
  said in words.
- torch, torchvision and Layerloom are trusted without being asked, but only their public modules: a graph
  file's Opaque target "torch.utils.model_dump.__main__:X" made `layerloom check` run torch's model viewer.
"""
import sys

import pytest
from hypothesis import given, settings, strategies as st

from layerloom.graph import analyze
from layerloom.graph import opaque
from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.opaque import TRUSTED_PACKAGES, allow_code, is_trusted
from layerloom.runtime.cli import run

from .helpers import chain

NET = """import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        {init}
        self.fc = torch.nn.Linear(4, 2)
    def forward(self, x):
        {forward}
        return self.fc(x)
"""


@pytest.mark.parametrize("head, words", [("raise SystemExit(0)\n", "it called sys.exit(0)"),
                                         ("import sys\nsys.exit(3)\n", "it called sys.exit(3)"),
                                         ("import sys\nsys.exit('bye')\n", "it called sys.exit('bye')"),
                                         ("raise SystemExit\n", "it called sys.exit()")])
def test_importing_a_file_that_exits_as_it_loads_fails_in_words_with_status_1(tmp_path, capsys, head, words):
    path = tmp_path / "model.py"
    path.write_text(head + NET.format(init="pass", forward="pass"))
    with pytest.raises(ImportFailure) as caught:
        import_source(f"{path}:Net", input_shape=(4,))
    assert str(caught.value) == f"running {path} failed: {words}"
    assert run(["import", f"{path}:Net", "--input-shape", "4", "--out", str(tmp_path / "m.loom.json")]) == 1
    assert capsys.readouterr().err == f"layerloom import: running {path} failed: {words}\n"
    assert not (tmp_path / "m.loom.json").exists()


def test_a_constructor_that_exits_fails_the_import_in_words(tmp_path, capsys):
    path = tmp_path / "ctor.py"
    path.write_text(NET.format(init="sys.exit(3)", forward="pass"))
    assert run(["import", f"{path}:Net", "--input-shape", "4", "--out", str(tmp_path / "m.loom.json")]) == 1
    err = capsys.readouterr().err
    assert "Net() in" in err and "failed: it called sys.exit(3)" in err and err.count("\n") == 1


def test_an_opaque_block_whose_forward_exits_is_an_analysis_error(tmp_path):
    path = tmp_path / "gate.py"
    path.write_text(NET.format(init="pass", forward="sys.exit(0)"))
    allow_code(str(path))
    errors = analyze(chain(("Opaque", {"target": f"{path}:Net"}), shape=(4,))).errors
    assert [e.message for e in errors] == [f"running {path}:Net failed: it called sys.exit(0)"]


def test_a_ctrl_c_while_a_file_loads_still_interrupts(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text("raise KeyboardInterrupt\n")       # what Ctrl-C raises, wherever the file's code is then
    with pytest.raises(KeyboardInterrupt):
        import_source(f"{path}:Net", input_shape=(4,))


def test_a_graph_file_cannot_run_torchs_model_viewer_program(capsys):
    """The reviewer's file: an Opaque block naming torch's `python -m torch.utils.model_dump` program."""
    doc = chain(("Opaque", {"target": "torch.utils.model_dump.__main__:X"}), shape=(4,))
    (error,) = analyze(doc).errors
    assert "torch.utils.model_dump.__main__" in error.message and "program" in error.message
    assert "torch.utils.model_dump.__main__" not in sys.modules
    assert capsys.readouterr().out == ""                 # (the program prints its usage when it runs)


@pytest.mark.parametrize("target", ["torch:_dynamo.eval_frame.OptimizedModule",
                                    "torch.nn:_reduction.X", "torchvision:_internally_replaced_utils.X"])
def test_a_target_cannot_walk_into_a_private_module_of_a_trusted_package(target):
    doc = chain(("Opaque", {"target": target}), shape=(4,))
    (error,) = analyze(doc).errors
    assert "private part" in error.message, error.message


@pytest.mark.parametrize("target", ["torch.nn:Linear", "torch.nn.modules.linear:Linear",
                                    "torchvision.ops.misc:Conv2dNormActivation",
                                    "torchvision.models.densenet:_DenseLayer",
                                    "layerloom.graph.importers.onnx_opaque:OnnxOperator"])
def test_the_public_modules_layerloom_writes_targets_for_stay_trusted(target):
    """What Layerloom's imports write (a class's own module, `cls.__module__`) is public in these packages;
    a private class name in a public module is fine (DenseNet's _DenseLayer)."""
    where = target.rpartition(":")[0]
    assert is_trusted(where)
    opaque.resolve_class(target)


NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(package=st.sampled_from(TRUSTED_PACKAGES), parts=st.lists(NAME, max_size=4))
def test_trusted_packages_are_trusted_for_their_public_modules_only(package, parts):
    where = ".".join([package, *parts])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opaque, "_ALLOWED", {})             # nothing allowed in this process
        assert is_trusted(where) == (not any(p.startswith("_") for p in parts)), where


@settings(max_examples=100, deadline=None)
@given(before=st.lists(NAME, min_size=1, max_size=3), after=st.lists(NAME, max_size=2))
def test_a_programs_main_module_is_refused_even_in_an_allowed_package(before, after):
    where = ".".join([*before, "__main__", *after])
    doc = chain(("Opaque", {"target": f"{where}:Net"}), shape=(4,))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opaque, "_ALLOWED", {before[0]: None})     # the package the person allowed
        assert not is_trusted(where)
        assert opaque.code_to_allow(doc) == []        # nothing to allow: allowing would not make it run
