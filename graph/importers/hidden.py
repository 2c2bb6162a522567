"""A recurrent layer's last hidden state as the block's `output: last`.

    out, h = self.gru(x);  self.fc(h[-1])          # also  _, (h, c) = self.lstm(x);  h[-1]

For a layer that runs one way, the top layer's final hidden state h[-1] is the output's last step
`out[:, -1]`, which a recurrent block gives with `output: last`. That holds only while nothing else
reads the output sequence (the block then gives the last step alone) and the layer is not
bidirectional (there h[-1] is the backward direction's state after the first step).
"""
from __future__ import annotations

import operator

from torch import fx

from .layers import RECURRENT


def _picks(node: fx.Node, allowed) -> bool:
    """Whether every use of `node` picks one element of it with an index `allowed` accepts."""
    return bool(node.users) and all(u.op == "call_function" and u.target is operator.getitem and len(u.args) == 2
                                    and allowed(u.args[1]) for u in node.users)


def pick_hidden(builder, node: fx.Node, src: fx.Node, index) -> bool:
    """Map `node` = src[index] when it is a step towards h[-1] (see the module docstring); True when it is."""
    hidden = builder.__dict__.setdefault("hidden", {})      # node -> (block id, "pair" or "h", the layer's node)
    if src in builder.tuple_of and index == 1:
        bid = builder.tuple_of[src]
        block = builder.doc.blocks[bid]
        if block.kind not in RECURRENT or block.params.get("bidirectional") or \
                any(u.args[1] == 0 for u in src.users if u.target is operator.getitem):
            return False
        layers = int(block.params.get("num_layers", 1))
        if block.kind == "LSTM":                              # (h, c): only h, and only h[-1]
            ok = _picks(node, lambda i: i == 0) and all(_picks(u, lambda i: i in (-1, layers - 1))
                                                        for u in node.users)
        else:
            ok = _picks(node, lambda i: i in (-1, layers - 1))
        if ok:
            hidden[node] = (bid, "pair" if block.kind == "LSTM" else "h")
            builder.report_nodes.append({"node": node.name, "op": "hidden state", "block": None, "kind": None})
        return ok
    if src not in hidden:
        return False
    bid, what = hidden[src]
    if what == "pair":
        hidden[node] = (bid, "h")
        builder.report_nodes.append({"node": node.name, "op": "getitem 0", "block": None, "kind": None})
        return True
    if builder.doc.blocks[bid].params.get("output", "sequence") != "sequence" or builder.doc.edges_from(bid):
        return False
    builder.doc.set_param(bid, "output", "last")
    builder.out_of[node] = bid
    builder.report_nodes.append({"node": node.name, "op": f"hidden state [{index}]", "block": bid,
                                 "kind": "output: last"})
    return True
