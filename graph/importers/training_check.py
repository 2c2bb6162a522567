"""Whether the imported graph trains as its source does, beyond computing the same outputs.

Three things a forward comparison cannot see, each checked against the source module itself:

- parameters the source holds fixed (`requires_grad=False`): a block whose parameters are all frozen there
  is imported with `trainable` off; a block frozen in part gets a note (`frozen_in_source`);
- a gradient the source stops (`x.detach()`, `with torch.no_grad():`): no block stops a gradient, so the
  graph and the source run forward and backward once (evaluation mode, the same weights and input) and
  their parameters' gradients are compared. Blocks the source gives no gradient at all get `trainable`
  off (they then train exactly as in the source: not at all); blocks whose gradient differs otherwise
  get a note naming them (`compare_gradients`);
- a forward that computes differently while training (`if self.training:`): the graph follows evaluation
  mode; the model is traced in training mode too and the calls that differ are named (`train_mode_note`).

Each check adds to the report's notes; none of them refuses an import.
"""
from __future__ import annotations

import difflib

import torch

from .block_ids import source_aliases

_TRAINING_FLAGGED = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
                     "stochastic_depth", "batch_norm", "instance_norm")
_LISTED = 8


def _listed(names) -> str:
    names = list(names)
    return ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def source_names(state: dict, named: dict, buffers: dict | None = None) -> dict:
    """{graph key: source parameter name} for the graph's tensors that came from `named` (the source's
    parameters), by the rule that loads a source's weights onto a graph (layerloom.graph.weights: a block takes
    all its tensors or none, so the source's `buffers` take part too)."""
    from ..weights import WeightsError, match_weights
    by_object = {id(v): k for k, v in named.items()}
    try:
        chosen, _ = match_weights(state, source_aliases({**(buffers or {}), **named}, state))
    except WeightsError:        # NaN weights: the fidelity check says so
        return {}
    return {key: by_object[id(v)] for key, v in chosen.items() if id(v) in by_object}


def _by_block(mapping: dict) -> dict:
    blocks: dict = {}
    for key, name in mapping.items():
        blocks.setdefault(key.split(".", 1)[0], []).append((key, name))
    return blocks


def frozen_in_source(doc, mapping: dict, named: dict, report) -> None:
    """Turn `trainable` off for blocks whose source parameters are all frozen; note those frozen in part."""
    frozen, partly = [], []
    for bid, pairs in _by_block(mapping).items():
        flags = [named[name].requires_grad for _, name in pairs]
        if not any(flags):
            doc.set_block_attr(bid, "trainable", False)
            frozen.append(bid)
        elif not all(flags):
            partly.append(f"{bid} ({', '.join(n for _, n in pairs if not named[n].requires_grad)})")
    if frozen:
        report.notes.append(f"the source holds the parameters of {_listed(frozen)} fixed (requires_grad=False): "
                            "imported with trainable off, so training leaves them as they are (turn trainable on "
                            "in the Inspector to train them)")
    if partly:
        report.notes.append(f"the source holds some parameters of {_listed(partly)} fixed (requires_grad=False); a "
                            "block trains all its parameters or none, so these train whole here: turn trainable off "
                            "for them if those parameters must stay as they are")


def _outputs(value) -> list:
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _outputs(v)]
    return []


def _gradients(module, example, params: list) -> list:
    """d(a fixed random projection of the outputs)/d(params); None for a parameter the output does not reach."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        outs = [o for o in _outputs(module(example.clone())) if o.is_floating_point()]
        g = torch.Generator().manual_seed(2)
        loss = sum(((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs),
                   torch.zeros(()))
        if not params or not loss.requires_grad:
            return [None] * len(params)
        return list(torch.autograd.grad(loss, params, allow_unused=True))


def _close(a, b) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12) if a.numel() else 1.0
    return bool(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale))


def compare_gradients(doc, state: dict, model, example, mapping: dict, named: dict, report) -> None:
    """Compare the graph's parameter gradients with the source's (see the module docstring)."""
    from ..compiler import compile_graph
    checked = {key: name for key, name in mapping.items() if named[name].requires_grad}
    if not checked:
        return
    try:
        gm = compile_graph(doc, weights=False)
        gm.load_state_dict(state, strict=False)
        gm.eval()
        graph_params = dict(gm.named_parameters())
        keys = [k for k in checked if k in graph_params]
        theirs = _gradients(model, example, [named[checked[k]] for k in keys])
        mine = _gradients(gm, example, [graph_params[k] for k in keys])
    except Exception:            # a graph that does not compile or run: the fidelity check says why
        report.fidelity["gradients_compared"] = False
        return
    report.fidelity["gradients_compared"] = True
    stopped: dict = {}
    for key, a, b in zip(keys, theirs, mine):
        bid = key.split(".", 1)[0]
        if a is None and b is None:
            state_of = "same"
        elif a is None:
            state_of = "stopped"
        elif b is None or not _close(a, b):
            state_of = "differs"
        else:
            state_of = "same"
        stopped.setdefault(bid, set()).add(state_of)
    frozen = [bid for bid, seen in stopped.items() if seen == {"stopped"}]
    differ = [bid for bid, seen in stopped.items() if seen & {"stopped", "differs"} and bid not in frozen]
    for bid in frozen:
        doc.set_block_attr(bid, "trainable", False)
    if frozen:
        norms = [bid for bid in frozen if "Norm" in doc.blocks[bid].kind]
        report.notes.append(
            f"the source stops the gradient before {_listed(frozen)} (x.detach() or torch.no_grad() in its forward): "
            "no gradient reaches their parameters there, and Layerloom has no block that stops a gradient, so "
            "these blocks were imported with trainable off; training then leaves them as the source does. Keep "
            "them frozen (turning trainable on trains weights the source holds fixed)"
            + (f"; frozen, {_listed(norms)} also normalise with their running statistics while training and keep "
               "them as they are, where the source uses and updates batch statistics" if norms else ""))
    if differ:
        report.notes.append(
            f"the gradient reaching {_listed(differ)} differs from the source's: the source cuts part of their "
            "gradient (x.detach() or torch.no_grad() on one of the paths their result takes), and Layerloom has no "
            "block that stops a gradient. The graph computes the same outputs, but fine-tuning it trains these "
            "blocks differently; turn trainable off for them, or remove the detach from the source if it is not "
            "wanted, and import again")


def check_training(doc, state: dict, model, example, report, named: dict | None = None) -> None:
    """The frozen-parameter and gradient checks against `model` (run on `example`, a batch)."""
    named = dict(model.named_parameters()) if named is None else named
    mapping = source_names(state, named, dict(model.named_buffers()))
    frozen_in_source(doc, mapping, named, report)
    compare_gradients(doc, state, model, example, mapping, named, report)


def _signature(node) -> tuple:
    """What a traced call does, without the node names (they shift when another call comes first) and without a
    `training` flag that the blocks follow by themselves (dropout, batch norm)."""
    from .functions import call_name
    if node.op in ("placeholder", "output"):
        return (node.op,)
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__qualname__", str(node.target))
    name = call_name(node) if node.op in ("call_function", "call_method") else ""
    if name in _TRAINING_FLAGGED:
        return (node.op, target)

    def plain(value):
        if hasattr(value, "op") and hasattr(value, "target"):
            return "·"
        if isinstance(value, (tuple, list)):
            return tuple(plain(v) for v in value)
        return repr(value)
    kwargs = tuple(sorted((k, plain(v)) for k, v in node.kwargs.items() if k != "training"))
    return (node.op, target, plain(tuple(node.args)), kwargs)


def _where(nodes) -> list[str]:
    from .fx_import import _innermost, _op_text
    seen = []
    for node in nodes:
        text = f"{_op_text(node)} in {_innermost(node)}" if _innermost(node) else f"{_op_text(node)}"
        if text not in seen:
            seen.append(text)
    return seen


def train_mode_note(model, trace, eval_graph) -> str | None:
    """A note when `model` traced in training mode (`trace()` gives its fx.Graph) calls other things than in
    evaluation mode (`eval_graph`); None when they agree."""
    from torch import fx
    model.train()
    try:
        graph = fx.GraphModule(model, trace()).graph
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return (f"the model cannot be traced in training mode ({type(exc).__name__}: {first}) although it can in "
                "evaluation mode: its forward does something else while training (an `if self.training:` branch), "
                "and the imported graph follows evaluation mode; check that training the graph without that part "
                "is what you want")
    finally:
        model.eval()
    graph.eliminate_dead_code()
    train_nodes, eval_nodes = list(graph.nodes), list(eval_graph.nodes)
    a, b = [_signature(n) for n in eval_nodes], [_signature(n) for n in train_nodes]
    if a == b:
        return None
    only_eval, only_train = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            only_eval += eval_nodes[i1:i2]
            only_train += train_nodes[j1:j2]
    said = []
    if only_train:
        said.append(f"in training mode it calls {_listed(_where(only_train))}")
    if only_eval:
        said.append(f"in evaluation mode {_listed(_where(only_eval))}")
    return (f"the model's forward computes differently while training (an `if self.training:` branch): "
            f"{'; '.join(said)}. The imported graph follows evaluation mode, so training it leaves that out; "
            "add the training-time part to the graph by hand where a block does it (Dropout, for example), or "
            "check that training without it is what you want")
