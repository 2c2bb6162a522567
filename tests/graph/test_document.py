import pytest

from layerloom.graph import MISSING, Edge, GraphDocument, GraphEditError


def test_ids_are_readable_and_stable():
    doc = GraphDocument()
    assert doc.add_block("Input") == "input"
    assert doc.add_block("Conv2d") == "conv1"
    assert doc.add_block("Conv2d") == "conv2"
    assert doc.add_block("MaxPool2d") == "pool1"
    assert doc.add_block("Linear") == "fc1"
    doc.remove_block("conv2")
    assert doc.add_block("Conv2d") == "conv2"
    assert doc.add_block("Input") == "input1"


def test_primitive_edits_emit_events_and_return_undo_data():
    doc = GraphDocument()
    events = []
    unsubscribe = doc.subscribe(events.append)
    a = doc.add_block("Input", pos=(5, 6))
    b = doc.add_block("ReLU")
    e = doc.connect(a, b)
    assert e == Edge("input", "relu1", 0, 0)
    old = doc.set_param(a, "shape", [3, 8, 8])
    assert old is MISSING
    assert doc.set_param(a, "shape") == [3, 8, 8]
    assert "shape" not in doc.blocks[a].params
    assert doc.move_block(b, (100, 50)) == (0.0, 0.0)
    doc.rename_block(b, "act")
    assert doc.edges == [Edge("input", "act")]
    block, edges = doc.remove_block("act")
    assert block.kind == "ReLU" and edges == [Edge("input", "act")]
    assert doc.edges == []
    types = [ev.type for ev in events]
    assert types == ["block_added", "block_added", "edge_added", "param_changed", "param_changed",
                     "block_moved", "block_renamed", "edge_removed", "block_removed"]
    unsubscribe()
    doc.add_block("ReLU")
    assert len(events) == len(types)


@pytest.mark.parametrize("action, message", [
    (lambda d: d.connect("input", "nope"), "no block"),
    (lambda d: d.connect("relu1", "input"), "no input port"),
    (lambda d: d.connect("input", "relu1", dst_port=1), "no input port 1"),
    (lambda d: d.connect("relu1", "relu1"), "itself"),
    (lambda d: d.rename_block("relu1", "input"), "already taken"),
    (lambda d: d.rename_block("relu1", "2bad"), "start with a letter"),
    (lambda d: d.rename_block("relu1", "class"), "reserved"),
    (lambda d: d.rename_block("relu1", "forward"), "torch.nn.Module attribute"),
    (lambda d: d.set_param("relu1", "kernel_size", 3), "no parameter"),
    (lambda d: d.add_block("Conv3d"), "unknown block kind"),
])
def test_bad_edits_are_refused_with_a_reason(action, message):
    doc = GraphDocument()
    doc.add_block("Input")
    doc.add_block("ReLU")
    with pytest.raises(GraphEditError, match=message):
        action(doc)


def test_add_block_ports_follow_num_inputs():
    doc = GraphDocument()
    doc.add_block("Add", {"num_inputs": 3})
    assert doc.input_count("add1") == 3
    doc.set_param("add1", "num_inputs", 2)
    assert doc.input_count("add1") == 2


def test_networkx_view_keeps_ports():
    doc = GraphDocument()
    doc.add_block("Input")
    doc.add_block("Add")
    doc.connect("input", "add1", dst_port=1)
    g = doc.to_networkx()
    assert list(g.edges(data=True)) == [("input", "add1", {"src_port": 0, "dst_port": 1})]


def test_copy_is_detached():
    doc = GraphDocument("x")
    doc.add_block("Input", {"shape": [2]})
    other = doc.copy()
    other.set_param("input", "shape", [3])
    assert doc.blocks["input"].params["shape"] == [2]


def test_add_block_and_connect_can_restore_a_position():
    """Undo puts a removed block and its wires back where they were in the file order."""
    doc = GraphDocument("t")
    for kind in ("Input", "ReLU", "Tanh", "Output"):
        doc.add_block(kind)
    doc.connect("input", "relu1")
    doc.connect("relu1", "tanh1")
    doc.connect("tanh1", "output")
    block, edges = doc.remove_block("relu1")
    doc.add_block(block.kind, block.params, block.pos, block_id=block.id, index=1)
    doc.connect("input", "relu1", index=0)
    doc.connect("relu1", "tanh1", index=1)
    assert list(doc.blocks) == ["input", "relu1", "tanh1", "output"]
    assert [(e.src, e.dst) for e in doc.edges] == [("input", "relu1"), ("relu1", "tanh1"), ("tanh1", "output")]


def test_new_ids_for_many_blocks_are_the_ids_given_one_after_another():
    """A paste of thousands of blocks picks all their ids at once: the same ids as picking them one by one."""
    doc = GraphDocument()
    for bid, kind in (("conv1", "Conv2d"), ("conv7", "Conv2d"), ("fc2", "Linear"), ("input", "Input"),
                      ("relu", "ReLU"), ("relu3x", "ReLU")):
        doc.add_block(kind, {"in_channels": 1, "out_channels": 1, "kernel_size": 1} if kind == "Conv2d" else
                      {"shape": [2]} if kind == "Input" else {}, block_id=bid)
    kinds = ["Conv2d", "Input", "Input", "ReLU", "Linear", "Conv2d", "Output", "Output", "ReLU"] * 3
    one_by_one: list[str] = []
    for kind in kinds:
        one_by_one.append(doc.new_id(kind, taken=one_by_one))
    assert doc.new_ids(kinds) == one_by_one
    assert one_by_one[:9] == ["conv8", "input1", "input2", "relu1", "fc3", "conv9", "output", "output1", "relu2"]
    assert len(set(one_by_one)) == len(kinds) and not set(one_by_one) & set(doc.blocks)
