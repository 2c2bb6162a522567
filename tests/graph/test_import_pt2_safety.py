"""A .pt2 file is data to the person importing it, but torch.export.load runs code from it: pickled
payloads (weights, constants, sample inputs), shape expressions that sympy parses with eval, and
weight names pasted into the code torch.fx generates. Each such file is refused before any of it
runs; a program torch.export.save wrote, with a dynamic batch size, still imports exactly."""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import pytest
import torch

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.importers.pt2_guards import plain_guard


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("pt2") / "net.pt2"
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
    batch = torch.export.Dim("batch", min=2, max=64)
    torch.export.save(torch.export.export(net, (torch.randn(4, 4),), dynamic_shapes=({0: batch},)), path)
    return path, net


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            new.writestr(info, change(info.filename, old.read(info.filename)))


def _pickled_weight(name, data, marker):
    if name.endswith("model_weights_config.json"):
        config = json.loads(data)
        config["config"]["0.bias"]["use_pickle"] = True
        return json.dumps(config).encode()
    return pickle.dumps(_RunsCode(marker)) if name.endswith("weights/weight_1") else data


def _pickled_sample_inputs(name, data, marker):
    return pickle.dumps(_RunsCode(marker)) if name.endswith("sample_inputs/model.pt") else data


def _expression(name, data, marker):
    if name.endswith("models/model.json"):
        return data.replace(b'"expr_str": "Symbol(',
                            f'"expr_str": "__import__(\'os\').system(\'touch {marker}\') and Symbol('.encode())
    return data


def _weight_name(name, data, marker):
    evil = f'b", None) or getattr(__import__("os"),"system")("touch {marker}") or getattr(None, "x'
    if name.endswith("models/model.json") or name.endswith("model_weights_config.json"):
        return data.replace(b'"0.bias"', json.dumps("0." + evil).encode())
    return data


def _object_constant(name, data, marker):
    if name.endswith("model_constants_config.json"):
        return json.dumps({"config": {"c": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": False}}}
                          ).encode()
    return data


@pytest.mark.parametrize("change, words", [
    (_pickled_weight, "a pickled payload (0.bias)"),
    (_pickled_sample_inputs, "pickled data that is not plain tensors"),
    (_expression, "a shape expression that is not arithmetic"),
    (_weight_name, "a weight named"),
    (_object_constant, "an object among its constants"),
])
def test_a_pt2_file_that_would_run_code_is_refused_before_it_runs(saved, tmp_path, change, words):
    path, _ = saved
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt2"
    _rewrite(path, evil, lambda name, data: change(name, data, marker))
    with pytest.raises(ImportFailure) as info:
        import_source(str(evil))
    assert words in str(info.value) and "could run code" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_a_saved_program_with_a_dynamic_batch_still_imports_exactly(saved):
    path, net = saved
    result = import_source(str(path))
    model = compile_graph(result.doc, weights=False)
    model.load_state_dict(result.state)
    x = torch.randn(5, 4)
    torch.testing.assert_close(model(x), net(x), rtol=0, atol=0)
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def test_a_pt2_file_that_unpacks_to_far_more_than_it_holds_is_refused(saved, tmp_path):
    path, _ = saved
    packed = tmp_path / "packed.pt2"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info.filename))
        new.writestr(f"{old.namelist()[0].split('/')[0]}/extra/zeros", bytes(4 * 2**20))
    assert packed.stat().st_size < 2**20
    with pytest.raises(ImportFailure, match="unpacks to 4 MB"):
        import_source(str(packed))


def _rewritten(source, path, change):
    """A copy of the .pt2 at `source` with its program (models/model.json) changed by `change(program)`."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith("models/model.json"):
                program = json.loads(body)
                change(program)
                body = json.dumps(program).encode()
            zout.writestr(info, body)
    return path


@pytest.mark.parametrize("change, says", [
    (lambda p: p.update(guards_code=["__import__('os').system('touch {mark}') == 0"]),
     "a guard that is not arithmetic on the input's sizes"),
    (lambda p: p.update(guards_code=5), "guards that are not a list of text"),
])
def test_a_guard_that_is_code_is_refused_before_torch_runs_it(tmp_path, change, says):
    """torch pastes a program's guards into Python it runs with exec when the program becomes a module."""
    source = tmp_path / "plain.pt2"
    torch.export.save(torch.export.export(torch.nn.Linear(3, 2).eval(), (torch.randn(2, 3),)), source)
    mark = tmp_path / "ran"
    hostile = _rewritten(source, tmp_path / "hostile.pt2",
                         lambda p: (change(p), p.update(guards_code=[g.format(mark=mark) for g in p["guards_code"]])
                                    if isinstance(p["guards_code"], list) else None))
    with pytest.raises(ImportFailure, match=f"holds {says} .*which could run code as the file loads"):
        import_source(str(hostile))
    assert not mark.exists()
    legit = ["((L['x'].size()[1]*L['x'].size()[0]) % (2*L['x'].size()[0])) == 0", "Max(2, L['x'].size()[0]) <= 64"]
    assert all(plain_guard(g) for g in legit)     # guards torch itself writes still load


def test_a_call_of_a_function_outside_torchs_operators_is_refused(tmp_path):
    source = tmp_path / "plain.pt2"
    torch.export.save(torch.export.export(torch.nn.ReLU(), (torch.randn(2, 3),)), source)

    def change(program):
        for node in program["graph_module"]["graph"]["nodes"]:
            node["target"] = "torch.serialization.os.system"
    with pytest.raises(ImportFailure, match=r'holds a call of "torch.serialization.os.system", which is not an '
                                            "operator of torch, operator or math"):
        import_source(str(_rewritten(source, tmp_path / "hostile.pt2", change)))


def test_a_program_whose_batch_size_has_no_range_is_refused_in_words(tmp_path):
    source = tmp_path / "plain.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(torch.nn.Linear(3, 2).eval(), (torch.randn(2, 3),),
                                          dynamic_shapes=({0: batch},)), source)
    hostile = _rewritten(source, tmp_path / "hostile.pt2", lambda p: p.update(range_constraints={}))
    with pytest.raises(ImportFailure, match=r"hostile.pt2 holds a program whose parts do not fit together "
                                            r"\(AssertionError: vr must not be None"):
        import_source(str(hostile))


def test_a_guard_whose_numbers_grow_without_bound_is_refused():
    """A guard is evaluated at every call of the module: a power of a power of a power computes a number of
    billions of digits, and the import (or any later call) would never end."""
    assert not plain_guard("(((9**64)**64)**64)**64 > L['x'].size()[0]")
    assert not plain_guard("L['x'].size()[0] ** (2**64) > 4")
    assert plain_guard("L['x'].size()[0]**2 > 4") and plain_guard("2**10 >= L['x'].size()[1]")


def test_a_program_whose_modules_are_named_with_a_hyphen_imports_exactly(tmp_path):
    """torchvision's RegNet names its blocks `block1-0`: its weights' paths hold a "-", which torch writes inside
    quotes where it pastes a path into code. Such a .pt2 was refused as one that could run code."""
    torch.manual_seed(0)
    stage = torch.nn.Sequential()
    stage.add_module("block1-0", torch.nn.Linear(4, 3))
    stage.add_module("block1-1", torch.nn.ReLU())
    net = torch.nn.Sequential(stage).eval()
    torch.export.save(torch.export.export(net, (torch.randn(2, 4),)), tmp_path / "hyphen.pt2")
    result = import_source(str(tmp_path / "hyphen.pt2"))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Linear", "ReLU", "Output"]
    assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]
