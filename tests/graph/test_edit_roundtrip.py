"""Whatever edits make, the loader opens again: random sequences of the document's edits (blocks added and
moved anywhere, even past the canvas' limit, groups set to any text of letters and dots, groups collapsed and
expanded, wires, removals), undone and redone, saved and loaded back give the same file. The reference is
the loader itself (graph_from_dict / load_graph): it refuses what the file format does not hold."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph.changes import Transaction, apply_all
from layerloom.graph.document import POSITION_LIMIT, GraphDocument
from layerloom.graph.fileformat import GraphFileError, dumps_graph, graph_from_dict, graph_to_dict, load_graph, \
    save_graph
from layerloom.graph.groups import clean_path, group_names, parents, with_collapsed

SETTINGS = settings(derandomize=True, max_examples=40, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
COORDS = st.one_of(st.floats(-2e7, 2e7, allow_nan=False), st.sampled_from(
    [0.0, 9_999_999.0, 9_999_999.996, -9_999_999.5, POSITION_LIMIT, -POSITION_LIMIT, 1e300, -math.inf, math.inf,
     math.nan, 20_000_178.0]))
GROUPS = st.text(alphabet="ab.", max_size=6)
STEP = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["ReLU", "Identity", "Linear"]), COORDS, COORDS, GROUPS),
    st.tuples(st.just("move"), st.integers(0, 20), COORDS, COORDS),
    st.tuples(st.just("group"), st.integers(0, 20), GROUPS),
    st.tuples(st.just("collapse_all"), st.booleans()),
    st.tuples(st.just("collapse_some"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("connect"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("remove"), st.integers(0, 20)),
)


def _edit(t: Transaction, step) -> None:
    doc, ids = t.doc, list(t.doc.blocks)
    what, *args = step
    if what == "add":
        kind, x, y, group = args
        t.add_block(kind, {"out_features": 3} if kind == "Linear" else {}, (x, y), group=group)
    elif not ids:
        return
    elif what == "move":
        t.move_block(ids[args[0] % len(ids)], (args[1], args[2]))
    elif what == "group":
        t.set_block_attr(ids[args[0] % len(ids)], "group", args[1])
    elif what == "collapse_all":            # what View ▸ Collapse All Groups (edits.set_all_collapsed) does
        t.set_meta("collapsed", with_collapsed(doc.collapsed, group_names(doc), args[0]))
    elif what == "collapse_some":
        names = group_names(doc)
        if names:
            t.set_meta("collapsed", with_collapsed(doc.collapsed, [names[args[0] % len(names)]], args[1]))
    elif what == "connect":
        src, dst = sorted((args[0] % len(ids), args[1] % len(ids)))     # forward only: no cycles
        if src != dst and not doc.edges_into(ids[dst]):
            t.connect(ids[src], ids[dst])
    elif what == "remove":
        t.remove_block(ids[args[0] % len(ids)])


def _reloads(doc: GraphDocument, path) -> None:
    save_graph(doc, path)
    again = load_graph(path)                       # the reference: the loader refuses what it cannot hold
    assert json.loads(dumps_graph(again)) == json.loads(dumps_graph(doc))     # (0 == 0.0: the saver's rounding)
    assert "" not in group_names(doc)


@SETTINGS
@given(st.lists(STEP, min_size=1, max_size=25))
def test_any_edit_sequence_saves_a_file_that_loads_back_the_same(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("roundtrip") / "g.loom.json"
    doc = GraphDocument("edits")
    done = []
    for step in steps:
        t = Transaction(doc)
        _edit(t, step)
        done.append(t)
        _reloads(doc, path)
    for t in reversed(done):                       # undo everything: every state on the way loads too
        apply_all(doc, t.undo_list())
        _reloads(doc, path)
    assert not doc.blocks


@pytest.mark.parametrize("group, words", [(".stem", "starts with a dot"), (".", "starts with a dot"),
                                          ("a..b", "two dots in a row"), ("layer1.", "ends with a dot")])
def test_a_group_path_with_an_empty_part_is_refused_where_it_is(group, words):
    data = {"format": "layerloom.graph", "version": 3, "blocks": [{"id": "relu1", "kind": "ReLU", "group": group}]}
    with pytest.raises(GraphFileError) as err:
        graph_from_dict(data)
    text = str(err.value)
    assert err.value.location == "$.blocks[0].group" and words in text and "remove the extra dot" in text
    data["blocks"][0]["group"] = "layer1.0"
    assert graph_from_dict(data).blocks["relu1"].group == "layer1.0"


@SETTINGS
@given(GROUPS)
def test_no_text_makes_a_group_without_a_name(path):
    found = parents(path)
    assert "" not in found and found == parents(clean_path(path))
    doc = GraphDocument()
    bid = doc.add_block("ReLU", group=path)
    assert doc.blocks[bid].group == clean_path(path)
    graph_from_dict(graph_to_dict(doc))           # what the document holds, the loader takes


def test_a_block_moved_past_the_edge_stays_at_it_and_a_further_move_is_no_change():
    doc = GraphDocument()
    bid = doc.add_block("ReLU", pos=(0.0, 3e7))
    at = doc.blocks[bid].pos
    graph_from_dict(graph_to_dict(doc))                # the reference: the loader takes where it is
    t = Transaction(doc)
    t.move_block(bid, (0.0, 5e7))
    assert doc.blocks[bid].pos == at and not t.changed and all(isinstance(v, float) for v in at)
