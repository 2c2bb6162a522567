"""Real exported files, mutated (hypothesis): an import either succeeds or is refused in one printable line that
names the problem, never another exception. A longer random run: LAYERLOOM_FUZZ=N (examples per format)."""
from __future__ import annotations

import io
import json
import os
import zipfile

import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from layerloom.graph.importers import ImportFailure, import_source
from layerloom.graph.weights import WeightsError, read_safetensors

LONG = int(os.environ.get("LAYERLOOM_FUZZ", "0"))
SETTINGS = settings(derandomize=not LONG, deadline=None, database=None, max_examples=LONG or 12,
                    suppress_health_check=list(HealthCheck))
LEAVES = st.sampled_from([0, -1, 2**40, "a\x1b[2J\n", None, [], {}, "s0*s0", "x" * 300, 1.5, True])


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 2, 3), torch.nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    torch.manual_seed(0)
    model, x = Net().eval(), torch.randn(2, 1, 6, 6)
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: batch},)), folder / "net.pt2")
    torch.onnx.export(model, (x,), folder / "net.onnx", dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "net.safetensors")
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def _change_leaf(data, tree):
    """Replace one leaf (or a whole branch) of parsed JSON with a hostile value."""
    cur, path = tree, []
    while isinstance(cur, (dict, list)) and cur and (not path or data.draw(st.integers(0, 4))):
        key = data.draw(st.sampled_from(sorted(cur))) if isinstance(cur, dict) else data.draw(
            st.integers(0, len(cur) - 1))
        path.append((cur, key))
        cur = cur[key]
    if path:
        parent, key = path[-1]
        parent[key] = data.draw(LEAVES)


def _refused_plainly(run):
    try:
        run()
    except (ImportFailure, WeightsError) as exc:
        assert str(exc).isprintable() and "Traceback" not in str(exc), str(exc)


@SETTINGS
@given(data=st.data())
def test_a_mutated_pt2_program_imports_or_is_refused_in_one_line(files, tmp_path_factory, data):
    raw = files[".pt2"]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith("models/model.json"):
                tree = json.loads(body)
                for _ in range(data.draw(st.integers(1, 3))):
                    _change_leaf(data, tree)
                body = json.dumps(tree).encode()
            zout.writestr(info, body)
    path = tmp_path_factory.mktemp("pt2") / "m.pt2"
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(out.getvalue()) - 1)))
    path.write_bytes(out.getvalue()[:cut])
    _refused_plainly(lambda: import_source(str(path)))


@SETTINGS
@given(data=st.data())
def test_a_mutated_onnx_file_imports_or_is_refused_in_one_line(files, tmp_path_factory, data):
    model = onnx.load_from_string(files[".onnx"])
    graph = model.graph
    for _ in range(data.draw(st.integers(1, 3))):
        what = data.draw(st.sampled_from(["dims", "dtype", "cycle", "name", "op", "input"]))
        node = data.draw(st.sampled_from(list(graph.node)))
        if what == "dims" and graph.initializer:
            tensor = data.draw(st.sampled_from(list(graph.initializer)))
            tensor.dims[0] = data.draw(st.sampled_from([0, 2**31, 2**40, 7]))
        elif what == "dtype" and graph.initializer:
            data.draw(st.sampled_from(list(graph.initializer))).data_type = data.draw(st.integers(0, 25))
        elif what == "cycle" and node.input:
            node.input[0] = data.draw(st.sampled_from(list(graph.node))).output[0]
        elif what == "name":
            node.name = data.draw(st.sampled_from(["a\x1b[2J\nb", "", "x" * 3000, "\u202e"]))
        elif what == "op":
            node.op_type = data.draw(st.sampled_from(["Gather", "Reshape", "Loop", "Scan", "Expand", "Unknown", "Pad"]))
        elif what == "input":
            graph.input[0].type.tensor_type.shape.dim[1].dim_value = data.draw(st.sampled_from([0, 2**20, 2**40]))
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    path.write_bytes(model.SerializeToString())
    _refused_plainly(lambda: import_source(str(path)))


@SETTINGS
@given(data=st.data())
def test_a_mutated_weights_file_reads_or_is_refused_in_one_line(files, tmp_path_factory, data):
    raw = files[".safetensors"]
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    _change_leaf(data, header)
    text = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("weights") / "m.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    _refused_plainly(lambda: read_safetensors(path))


def test_a_weights_file_whose_header_names_an_unknown_type_is_refused_in_one_line(files, tmp_path):
    raw = files[".safetensors"]
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header[next(k for k in header if k != "__metadata__")]["dtype"] = "a\x1b[2J\nrm -rf ~"
    text = json.dumps(header).encode()
    (tmp_path / "m.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    with pytest.raises(WeightsError) as caught:
        read_safetensors(tmp_path / "m.safetensors")
    assert str(caught.value).isprintable() and "unknown variant `a\\x1b[2J\\nrm -rf ~`" in str(caught.value)


def test_an_onnx_file_that_keeps_more_weights_beside_it_than_layerloom_imports_is_refused_before_reading(
        files, tmp_path, monkeypatch):
    from onnx import TensorProto

    from layerloom.graph.importers import onnx_file
    model = onnx.load_from_string(files[".onnx"])
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "side.bin"), ("length", str(2**22))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    with open(tmp_path / "side.bin", "wb") as side:      # sparse: 4 MiB declared, nothing written
        side.truncate(2**22)
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    monkeypatch.setattr(onnx_file, "EXTERNAL_BYTES", 2**20)      # the real limit is 8 GiB
    with pytest.raises(ImportFailure, match=r"keeps 4\.0 MiB of weights in side files, more than the 1\.0 MiB "
                                            "Layerloom imports"):
        import_source(str(tmp_path / "m.onnx"))


def test_an_onnx_file_is_run_by_onnxruntime_only_when_its_largest_tensor_fits(files, tmp_path, monkeypatch):
    from layerloom.graph.importers import batch_check
    (tmp_path / "net.onnx").write_bytes(files[".onnx"])
    monkeypatch.setattr(batch_check, "CHECK_BYTES", 3 * 36 * 4 - 4)     # the input, 1×6×6 a sample, is the largest
    with pytest.raises(ImportFailure, match=r"checking the import runs the model on a batch of 3, where the result "
                                            r"of input \(1×6×6 a sample\) would take"):
        import_source(str(tmp_path / "net.onnx"))


def _with_side_file(files, folder, location: str, length: int | None = None, offset: int = 0):
    """The exported ONNX model with its first weight moved to a side file named `location`; returns (the model's
    path, the weight's bytes)."""
    from onnx import TensorProto
    model = onnx.load_from_string(files[".onnx"])
    tensor = model.graph.initializer[0]
    raw = onnx.numpy_helper.to_array(tensor).tobytes()
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)),
                       ("length", str(len(raw) if length is None else length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    return folder / "m.onnx", raw


@pytest.mark.parametrize("layout", ["beside", "in a subfolder", "folder through a link", "model through a link"])
def test_an_onnx_side_file_beside_the_model_is_read_and_imports_as_the_inline_one(files, tmp_path, monkeypatch,
                                                                                   layout):
    (tmp_path / "inline.onnx").write_bytes(files[".onnx"])
    inline = import_source(str(tmp_path / "inline.onnx"))
    real = tmp_path / "real"
    real.mkdir()
    path, raw = _with_side_file(files, real, "weights/w.bin" if layout == "in a subfolder" else "w.bin")
    (real / "weights").mkdir()
    (real / ("weights/w.bin" if layout == "in a subfolder" else "w.bin")).write_bytes(raw)
    if layout == "folder through a link":         # the model's folder reached through a link: it imports
        (tmp_path / "alias").symlink_to(real)
        path = tmp_path / "alias" / "m.onnx"
    if layout == "model through a link":          # a link to the model file, its side file beside the link only
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "m.onnx").symlink_to(path)
        (tmp_path / "elsewhere" / "w.bin").write_bytes(raw)
        (real / "w.bin").write_bytes(bytes(len(raw)))        # beside the link's target: not the model's
        path = tmp_path / "elsewhere" / "m.onnx"
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "w.bin").write_bytes(bytes(len(raw)))     # never read: side files are the model's own
    monkeypatch.chdir(tmp_path / "cwd")
    beside = import_source(str(path))
    assert inline.state.keys() == beside.state.keys()
    assert all(torch.equal(inline.state[k], beside.state[k]) for k in inline.state)


@pytest.mark.parametrize("case, words", [
    ("outside", "in a side file named ../w.bin, outside the model's folder; Layerloom reads side files only beside"),
    ("absolute", ", by a path from the root; Layerloom reads side files only beside the .onnx file"),
    ("link", "in a side file named link.bin, which is reached through a link; Layerloom reads side files only as "
             "plain files"),
    ("missing", "in a side file named gone.bin, which is not beside it in "),
    ("short", "in a side file named w.bin, which holds 8 bytes, fewer than the "),
    ("negative", "in a side file named w.bin, at an offset or length that is not a whole number of zero or more"),
    ("empty", "in a side file named w.bin, as 0 bytes where its shape [2, 1, 3, 3] needs 72: the file is damaged"),
    ("linked folder", "in a side file named alias/w.bin, which is reached through a link"),
    ("nameless", "names no side file for the weights of conv.weight: the file is damaged"),
    ("folder", "in a side file named sub, which is not a plain file (a folder, a pipe or a device)"),
    ("nul", "which this system cannot open as a file name: the file is damaged"),
    ("too long", "which this system cannot open as a file name: the file is damaged"),
    ("dot", "names no side file for the weights of conv.weight: the file is damaged"),
])
def test_an_onnx_side_file_that_is_not_a_plain_file_beside_it_holding_its_weights_is_refused_in_words(
        files, tmp_path, case, words):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    raw = _with_side_file(files, model_dir, "x")[1]
    (tmp_path / "w.bin").write_bytes(raw)          # a file the model should not reach
    location, length, offset = {"outside": ("../w.bin", None, 0), "absolute": (str(tmp_path / "w.bin"), None, 0),
                                "link": ("link.bin", None, 0), "missing": ("gone.bin", None, 0),
                                "short": ("w.bin", None, 0), "negative": ("w.bin", None, -4),
                                "empty": ("w.bin", 0, 0), "linked folder": ("alias/w.bin", None, 0),
                                "nameless": ("", None, 0), "folder": ("sub", None, 0), "nul": ("w\x00.bin", None, 0),
                                "too long": ("w" * 300 + ".bin", None, 0), "dot": ("w.bin/.", None, 0)}[case]
    if case == "link":
        (model_dir / "link.bin").symlink_to(tmp_path / "w.bin")
    if case in ("short", "negative", "empty"):
        (model_dir / "w.bin").write_bytes(raw[:8] if case == "short" else raw)
    if case == "linked folder":                  # a link to a folder inside the model's own folder
        (model_dir / "sub").mkdir()
        (model_dir / "sub" / "w.bin").write_bytes(raw)
        (model_dir / "alias").symlink_to(model_dir / "sub")
    if case == "folder":
        (model_dir / "sub").mkdir()
    path, _ = _with_side_file(files, model_dir, location, length, offset)
    with pytest.raises(ImportFailure) as caught:
        import_source(str(path))
    text = str(caught.value)
    assert text.startswith(f"{path} names no side file" if case in ("nameless", "dot") else
                           f"{path} keeps the weights of ")
    assert words in text and text.isprintable() and "Error" not in text and len(text) < 600, text


def test_side_files_of_packed_types_are_read_as_onnx_reads_them(tmp_path):
    """A 4-bit tensor packs two values to a byte: its side file is read, not held against a byte a value."""
    from onnx import TensorProto, helper
    from onnx.external_data_helper import uses_external_data

    from layerloom.graph.importers.onnx_file import _load_side_data
    packed = helper.make_tensor("q", TensorProto.UINT4, [5], bytes([0x21, 0x43, 0x05]), raw=True)   # 1 2 3 4 5
    model = helper.make_model(helper.make_graph([], "g", [], [], [packed]))
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.data", size_threshold=0)
    got = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    assert uses_external_data(got.graph.initializer[0])
    _load_side_data(got, tmp_path / "m.onnx")
    want = onnx.load(str(tmp_path / "m.onnx"))               # onnx's own reading, side file included
    assert onnx.numpy_helper.to_array(got.graph.initializer[0]).tolist() == \
        onnx.numpy_helper.to_array(want.graph.initializer[0]).tolist() == [1, 2, 3, 4, 5]


def test_an_empty_tensor_in_a_side_file_takes_no_bytes_from_the_next(tmp_path):
    """onnx.save puts every tensor in one side file; an empty one declares a length of 0, which onnx 1.16's own
    reader took for "to the end of the file". Layerloom reads each tensor's own bytes."""
    from onnx import TensorProto, helper

    from layerloom.graph.importers.onnx_file import _load_side_data
    empty = helper.make_tensor("e", TensorProto.FLOAT, [0, 3], b"", raw=True)
    full = helper.make_tensor("f", TensorProto.FLOAT, [3], torch.arange(3.0).numpy().tobytes(), raw=True)
    model = helper.make_model(helper.make_graph([], "g", [], [], [empty, full]))
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.data", size_threshold=0)
    got = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    entries = {e.key: e.value for e in got.graph.initializer[0].external_data}
    assert entries.get("length", "0") == "0" or "length" not in entries
    _load_side_data(got, tmp_path / "m.onnx")
    arrays = [onnx.numpy_helper.to_array(t) for t in got.graph.initializer]
    assert arrays[0].shape == (0, 3) and arrays[1].tolist() == [0.0, 1.0, 2.0]


def test_a_side_file_tensor_with_a_size_below_zero_is_refused_in_words(files, tmp_path):
    """A shape of [-2, 3] would ask for -24 bytes, and [-2, -3] for as many as [2, 3]: neither is a shape."""
    path, raw = _with_side_file(files, tmp_path, "w.bin")
    (tmp_path / "w.bin").write_bytes(raw)
    model = onnx.load(str(path), load_external_data=False)
    model.graph.initializer[0].dims[:] = [-2, -1, 3, 3]
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ImportFailure) as caught:
        import_source(str(path))
    assert "in a side file named w.bin, for a shape [-2, -1, 3, 3] with a size below zero: the file is damaged" in \
        str(caught.value)
