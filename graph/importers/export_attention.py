"""nn.MultiheadAttention in torch.export programs: the steps it is recorded as become one block again.

torch.export records `self.attn(x, x, x)` as the ~25 ATen calls it makes (a linear for the three
projections, views and transposes that split the heads, scaled_dot_product_attention, the output
linear), each tagged with the attention module in its `nn_module_stack`. Those calls become one
MultiheadAttention block when they read one tensor of the network (self-attention with no mask), give one
result that is used (the output, not the attention weights), take the module's packed in_proj weights,
and start by moving the batch first (batch_first=True). The number of heads is read from the shape
scaled_dot_product_attention receives. The dropout is not in the program (it acts only while training):
the block gets 0, and a note says so. Anything else is refused naming the module; the import's checks
against the program (on two batch sizes) back the mapping.
"""
from __future__ import annotations

from torch import nn

from .fx_import import _parent
from .layers import layer_block
from .report import ImportFailure

ATTENTION = "torch.nn.modules.activation.MultiheadAttention"


class AttentionCall:
    def __init__(self, path: str):
        self.path, self.nodes, self.output = path, [], None


def _attention_call(node) -> tuple[str, str] | None:
    """(the call's key, the module's path) of the attention module `node` is a step of (a module called twice
    has a key per call: `attn`, `attn@1`), or None."""
    for key, entry in (node.meta.get("nn_module_stack") or {}).items():
        if isinstance(entry, tuple) and len(entry) == 2 and str(entry[1]) == ATTENTION:
            return str(key), str(entry[0])
    return None


def attention_calls(builder, graph) -> dict:
    """{node: the AttentionCall it is a step of} for every call made inside an nn.MultiheadAttention."""
    calls: dict[str, AttentionCall] = {}
    for node in graph.nodes:
        found = _attention_call(node) if node.op == "call_function" else None
        if found is not None:
            calls.setdefault(found[0], AttentionCall(found[1])).nodes.append(node)
    found = {}
    for call in calls.values():
        inside = set(call.nodes)
        used = [n for n in call.nodes if any(u not in inside for u in n.users)
                and builder.info.get(n, ("",))[0] != "value"]      # sizes worked out for a dynamic batch
        if len(used) != 1:
            raise ImportFailure(f"{call.path} (MultiheadAttention): its attention weights are used beside its output; "
                                "a MultiheadAttention block gives its output alone: use only the output "
                                "(need_weights=False)")
        call.output = used[0]
        found.update({n: call for n in call.nodes})
    return found


def attention_step(builder, node, call: AttentionCall) -> None:
    """One step of an attention call: the last one used becomes its block, the others fold into it."""
    if node is not call.output:
        builder.report_nodes.append({"node": node.name, "op": str(node.target), "block": None, "kind": None})
        return
    refuse = f"{call.path} (MultiheadAttention)"
    inside = set(call.nodes)
    weights, inputs = {}, []
    for step in call.nodes:
        for arg in step.all_input_nodes:
            if arg in inside:
                continue
            if arg.op == "placeholder" and builder.fqn.get(arg.name, "").startswith(call.path + "."):
                weights.setdefault(builder.fqn[arg.name], (step, arg))
            elif arg not in inputs and builder.info.get(arg, ("",))[0] != "value":    # not a size
                inputs.append(arg)
    if len(inputs) != 1 or inputs[0] not in builder.out_of:
        raise ImportFailure(f"{refuse} is given a key, a value or a mask of its own; a MultiheadAttention block "
                            "attends over its one input (attn(x, x, x), no mask)")
    first = next(s for s in call.nodes if inputs[0] in s.all_input_nodes)
    if builder.name_of(first) != "transpose" or sorted(int(d) for d in first.args[1:3]) != [0, 1]:
        raise ImportFailure(f"{refuse} takes the sequence first (batch_first=False); a MultiheadAttention block "
                            "takes the batch first: build it with batch_first=True and export again")
    sdpa = [s for s in call.nodes if builder.name_of(s) == "scaled_dot_product_attention"]
    names = {f.removeprefix(call.path + "."): f for f in weights}
    if len(sdpa) != 1 or "in_proj_weight" not in names or "out_proj.weight" not in names:
        raise ImportFailure(f"{refuse} is recorded in steps Layerloom does not read back as one block (a key or "
                            "value size of its own, or attention without scaled_dot_product_attention); import the "
                            "model.py it came from")
    state = {}
    for short, fqn in names.items():
        step, arg = weights[fqn]
        state[short] = builder.owned_weight(step, arg, short)[1]
    embed, heads = state["in_proj_weight"].shape[1], builder.info[sdpa[0].args[0]][1][1]
    module = nn.MultiheadAttention(embed, heads, bias="in_proj_bias" in state, batch_first=True)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ImportFailure(f"{refuse}: its weights do not fit a MultiheadAttention of {embed} features and "
                            f"{heads} heads")
    kind, params = layer_block(module)
    bid = builder.add(node, kind, {**params, "num_inputs": 1}, inputs, call.path, _parent(call.path), module)
    builder.out_of[node] = bid
    builder.attention_note = ("the program does not keep the attention layers' dropout (it acts only while "
                              "training): their blocks start with dropout 0; set it in the blocks if the model "
                              "used one")
