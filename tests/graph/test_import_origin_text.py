"""An Opaque block's origin is words from the file (an exception's text, an ONNX node's name, a path): it reaches
the saved .loom.json, the report and every message as one printable line, and never the generated code."""
from __future__ import annotations

import textwrap

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from layerloom.graph import compile_graph, load_graph
from layerloom.graph.importers import import_source, save_import
from layerloom.graph.opaque import OpaqueError, opaque_module

HOSTILE = '\x1b[2J\u202e\x00 \ud800 x\n"""\nimport os  # \u2028'


def _printable(text: str) -> bool:
    return all(line.isprintable() for line in text.split("\n")) and "\ud800" not in text


def _check_saved(result, tmp_path):
    (block,) = [b for b in result.doc.blocks.values() if b.kind == "Opaque"]
    origin = block.params["origin"]
    assert origin.isprintable() and "\\x1b[2J" in origin and "\\u202e" in origin
    save_import(result, tmp_path / "net.loom.json")                      # no UnicodeEncodeError for \ud800
    saved = (tmp_path / "net.loom.json").read_text(encoding="utf-8")
    assert _printable(saved) and "\u2028" not in saved
    reloaded = load_graph(tmp_path / "net.loom.json")
    assert reloaded.blocks[block.id].params["origin"] == origin
    assert "import os" not in compile_graph(reloaded, weights=False).code
    assert _printable(result.report.text())


def test_an_exception_text_in_an_opaque_origin_is_escaped_in_the_file_and_the_report(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(f'''
        import torch
        from torch import nn


        class Picky(nn.Module):
            def forward(self, x):
                if isinstance(x, torch.fx.Proxy):
                    raise TypeError({HOSTILE!r})
                return x * 2


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.picky = Picky()

            def forward(self, x):
                return self.picky(self.fc(x))
    '''))
    _check_saved(import_source(f"{path}:Net", (4,)), tmp_path)


def test_an_onnx_node_name_in_an_opaque_origin_is_escaped_in_the_file_and_the_report(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    node = helper.make_node("Erf", ["x"], ["y"], name=HOSTILE.replace("\ud800", "?"))   # protobuf holds UTF-8 only
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "erf.onnx")
    result = import_source(str(tmp_path / "erf.onnx"))
    _check_saved(result, tmp_path)
    graph = compile_graph(result.doc, weights=False).eval()
    value = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    torch.testing.assert_close(graph(torch.from_numpy(value)), torch.erf(torch.from_numpy(value)))


def test_an_opaque_target_from_a_file_reaches_its_message_as_one_printable_line():
    with pytest.raises(OpaqueError) as caught:
        opaque_module("evil\n\x1b[2J\u202e:Net", [], {})
    assert _printable(str(caught.value)) and "evil\\n\\x1b[2J\\u202e" in str(caught.value)


def test_module_names_from_an_onnx_file_become_groups_of_plain_characters(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    node = helper.make_node("Relu", ["x"], ["y"], name="act")
    scope = node.metadata_props.add()          # the module path torch's exporter writes, made hostile
    scope.key, scope.value = "pkg.torch.onnx.name_scopes", "['', 'enc\x1b[2J\u202e\n', '0', 'act']"
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "relu.onnx")
    result = import_source(str(tmp_path / "relu.onnx"))
    assert [b.group for b in result.doc.blocks.values() if b.kind == "ReLU"] == ["enc__2J__.0"]
    save_import(result, tmp_path / "net.loom.json")
    assert _printable((tmp_path / "net.loom.json").read_text(encoding="utf-8"))
