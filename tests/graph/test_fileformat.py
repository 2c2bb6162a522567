import copy
import json

import pytest
from hypothesis import given, settings, strategies as st

from layerloom.graph import GraphFileError, analyze, graph_to_dict, load_graph, save_graph
from layerloom.presets import preset_path

GOOD = {
    "format": "layerloom.graph", "version": 1, "name": "LeNet-5",
    "blocks": [{"id": "input", "kind": "Input", "params": {"shape": [1, 28, 28]}, "pos": [0, 0]},
               {"id": "conv1", "kind": "Conv2d", "params": {"in_channels": "auto", "out_channels": 6,
                                                            "kernel_size": 5, "padding": 2}, "pos": [180, 0]},
               {"id": "output", "kind": "Output"}],
    "edges": [{"from": "input", "to": "conv1"}, {"from": "conv1", "to": "output"}],
    "training": {},
}


def test_load_from_dict_and_defaults():
    doc = load_graph(GOOD)
    assert list(doc.blocks) == ["input", "conv1", "output"]
    assert doc.blocks["conv1"].full_params()["stride"] == 1        # torch's default
    assert doc.blocks["output"].pos == (0.0, 0.0)
    assert analyze(doc).blocks["conv1"].output_shape == (6, 28, 28)


def test_roundtrip_through_file(tmp_path):
    doc = load_graph(preset_path("resnet18"))
    path = tmp_path / "r.loom.json"
    save_graph(doc, path)
    again = load_graph(path)
    assert graph_to_dict(again) == graph_to_dict(doc)
    assert json.loads(path.read_text())["format"] == "layerloom.graph"
    assert not list(tmp_path.glob(".*tmp"))   # no temp file left behind


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "g.loom.json"
    save_graph(load_graph(GOOD), path)
    before = path.read_bytes()
    import layerloom.graph.fileformat as ff

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(ff.os, "fsync", boom)
    with pytest.raises(OSError):
        save_graph(load_graph(preset_path("lenet5")), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.loom.json"]


def mutate(fn):
    data = json.loads(json.dumps(GOOD))
    fn(data)
    return data


@pytest.mark.parametrize("change, location, words", [
    (lambda d: d.update(format="keras"), "$.format", "not a Layerloom graph"),
    (lambda d: d.update(version=7), "$.version", "newer Layerloom"),
    (lambda d: d.update(version="1"), "$.version", "version number"),
    (lambda d: d.update(extra=1), "$.extra", "unknown key"),
    (lambda d: d.update(blocks={}), "$.blocks", "list of blocks"),
    (lambda d: d["blocks"][1].update(kind="Conv2D"), "$.blocks[1].kind", 'Did you mean "Conv2d"'),
    (lambda d: d["blocks"][1].update(id="input"), "$.blocks[1].id", "used by two blocks"),
    (lambda d: d["blocks"][1].update(id="my conv"), "$.blocks[1].id", "not a usable id"),
    (lambda d: d["blocks"][1]["params"].update(kernel_size="5"), "$.blocks[1].params.kernel_size", "whole number"),
    (lambda d: d["blocks"][1]["params"].update(out_channels=0), "$.blocks[1].params.out_channels", "at least 1"),
    (lambda d: d["blocks"][1]["params"].update(stride=[1, 2, 3]), "$.blocks[1].params.stride", "list of 2"),
    (lambda d: d["blocks"][1]["params"].update(padding="half"), "$.blocks[1].params.padding", "same"),
    (lambda d: d["blocks"][1]["params"].update(bias=1), "$.blocks[1].params.bias", "true or false"),
    (lambda d: d["blocks"][1]["params"].update(filters=3), "$.blocks[1].params.filters", "no parameter"),
    (lambda d: d["blocks"][0]["params"].update(shape=[1, -28]), "$.blocks[0].params.shape", "at least 1"),
    (lambda d: d["blocks"][0].update(pos=[0]), "$.blocks[0].pos", "two numbers"),
    (lambda d: d["blocks"][0].update(pos=[2e7, 0]), "$.blocks[0].pos",
     "within 10,000,000 of the origin on the canvas, not [20000000.0, 0]: set it to [0, 0]"),
    (lambda d: d["edges"].append({"from": "input", "to": "ghost"}), "$.edges[2].to", "does not exist"),
    (lambda d: d["edges"].append({"from": "input", "to": "conv1", "to_port": 1}), "$.edges[2].to_port",
     "no input port 1"),
    (lambda d: d["edges"].append({"from": "input", "to": "conv1"}), "$.edges[2]", "appears twice"),
    (lambda d: d["edges"][0].update(to_port=-1), "$.edges[0].to_port", "≥ 0"),
    (lambda d: d.update(training=[]), "$.training", "must be an object"),
])
def test_loader_refuses_bad_content_with_location(change, location, words):
    with pytest.raises(GraphFileError) as info:
        load_graph(mutate(change))
    assert info.value.location == location
    assert words in str(info.value)


def test_loader_refuses_bad_files(tmp_path):
    cases = {
        "broken.loom.json": b'{"format": "layerloom.graph", ',
        "latin1.loom.json": "{\"name\": \"caf\u00e9\"}".encode("latin-1"),
        "nan.loom.json": b'{"format": "layerloom.graph", "version": 1, "blocks": [], "x": NaN}',
        "dupkey.loom.json": b'{"format": "layerloom.graph", "format": "x"}',
        "list.loom.json": b"[1, 2, 3]",
    }
    words = {"broken": "not valid JSON", "latin1": "not UTF-8", "nan": "NaN is not allowed",
             "dupkey": "appears twice", "list": "holds a list"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(GraphFileError, match=words[name.split(".")[0]]) as info:
            load_graph(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(GraphFileError, match="does not exist"):
        load_graph(tmp_path / "missing.loom.json")
    big = tmp_path / "big.loom.json"
    with open(big, "wb") as f:
        f.truncate(17 * 1024 * 1024)
    with pytest.raises(GraphFileError, match="at most 16 MB"):
        load_graph(big)


_TEXT = st.text(max_size=30) | st.sampled_from(["auto", "same", "conv1", "input", "\x1b[2J", "\ud800", "x" * 5000])
_JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-10 ** 400, max_value=10 ** 400)
                     | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                     max_leaves=8)


def _spots(data, path=()):
    """The path of every value in a parsed graph file, and of a few keys it does not have."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*path, key)
        yield from _spots(value, (*path, key))


_LENET = json.loads(preset_path("lenet5").read_text())
_SPOTS = [*_spots(_LENET), ("version",), ("blocks", 1, "params", "x"), ("x",), ("blocks", 1, "y"), ("edges", 0, "z")]


@pytest.mark.parametrize("version", [10 ** 400, 2 ** 63])
def test_a_huge_version_number_is_cut_short_in_the_message(version):
    with pytest.raises(GraphFileError) as info:
        load_graph({**_LENET, "version": version})
    assert "newer Layerloom" in str(info.value) and len(str(info.value)) < 400


@settings(derandomize=True, max_examples=300, deadline=None, database=None)
@given(spot=st.sampled_from(_SPOTS), value=_JSON)
def test_any_value_anywhere_loads_or_is_refused_in_one_short_line(spot, value):
    data = copy.deepcopy(_LENET)
    node = data
    for key in spot[:-1]:
        node = node[key]
    node[spot[-1]] = value
    try:
        load_graph(data)
    except GraphFileError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 700, str(exc)[:1000]


def test_saving_again_keeps_a_files_permissions_and_a_link(tmp_path):
    """The rename put a new file in place: a private (0600) graph came back readable by everyone, and a
    graph opened through a link was cut off from the file the link points to."""
    import os
    import stat
    doc = load_graph(preset_path("lenet5"))
    private = tmp_path / "private.loom.json"
    save_graph(doc, private)
    os.chmod(private, 0o600)
    doc.name = "LeNet-5, again"
    save_graph(doc, private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and load_graph(private).name == "LeNet-5, again"
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "net.loom.json"
    save_graph(doc, target)
    link = tmp_path / "net.loom.json"
    link.symlink_to(target)
    doc.name = "through the link"
    save_graph(doc, link)
    assert link.is_symlink() and os.path.samefile(link, target)
    assert load_graph(target).name == "through the link"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["net.loom.json"]     # no temporary left


@settings(derandomize=True, deadline=None, database=None, max_examples=60)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(str.strip))
def test_a_saved_file_shows_no_invisible_characters_and_reads_back_the_same(tmp_path_factory, name):
    """Names with bidi overrides (U+202E), line separators (U+2028) or C1 controls went raw into the file, so
    it read otherwise in an editor than it parsed; a lone surrogate stopped the save with UnicodeEncodeError."""
    import unicodedata
    path = tmp_path_factory.mktemp("names") / "g.loom.json"
    doc = load_graph(GOOD)
    doc.name = name
    doc.description = "before\u202eafter\u2028\x85 模型"
    save_graph(doc, path)
    text = path.read_text(encoding="utf-8")
    assert not [ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert "模型" in text                                  # letters of every script stay as they are
    again = load_graph(path)
    assert again.name == name and again.description == doc.description
    assert graph_to_dict(again) == graph_to_dict(doc)


def test_a_lone_surrogate_no_longer_stops_the_save(tmp_path):
    doc = load_graph(GOOD)
    doc.description = "cut \udc80 here"
    save_graph(doc, tmp_path / "g.loom.json")
    assert "\\udc80" in (tmp_path / "g.loom.json").read_text(encoding="utf-8")
