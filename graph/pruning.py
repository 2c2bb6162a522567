"""Structured pruning: remove whole channels (Conv) or features (Linear) and keep the rest's weights.

    result = prune_channels(doc, weights, ratio=0.5)                 # every prunable block
    result = prune_channels(doc, weights, ratio=0.5, blocks=["conv2"])
    result.doc, result.weights       # the smaller graph and its state_dict (load_state_dict(strict=True))
    result.changes                   # [(block, param, old, new)]: one edit, reversible

Channels are ranked by the L1 norm of their weights and the weakest are dropped. A channel lives in
a tensor that flows on through the graph, so every block that reads it is sliced too: BatchNorm's
statistics, the next Conv's or Linear's input weights, a Flatten's features (one channel is H×W of
them). Add ties its inputs' channels together: the Convs that feed one residual stream form one
group and lose the same channels, ranked by the sum of their norms. Concat keeps each input's own
channels side by side. Where the channel positions cannot be followed (GroupNorm, LayerNorm,
Softmax, Reshape, attention, recurrent blocks, the Output...), the blocks that feed it are left whole.
Which kinds are pruned, which count the channels they read, and which pass channels through one by
one are facts of the block registry (`prunes`, `reads_channels`, `channelwise`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .analysis import analyze
from .blocks import get_kind
from .compiler import compile_graph
from .document import MISSING

PER_CHANNEL_TENSORS = ("weight", "bias", "running_mean", "running_var")


class PruneError(ValueError):
    """A pruning request that cannot be carried out; the message says why and what to do."""


@dataclass
class PruneResult:
    doc: object                                   # the new, smaller GraphDocument
    weights: dict                                 # its state_dict
    changes: list                                 # (block id, parameter, old explicit value or MISSING, new value)
    kept: dict                                    # producer block id -> kept channel indices (sorted)
    groups: list                                  # lists of producer ids pruned together
    before: dict = field(default_factory=dict)    # {"params", "macs"}
    after: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)     # sentences: where the ratio could not be met


class _Groups:
    """Union-find over producer ids; a group shares one set of kept channels."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def add(self, p: str) -> None:
        self.parent.setdefault(p, p)

    def find(self, p: str) -> str:
        while self.parent[p] != p:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        return p

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def members(self, root: str) -> list[str]:
        return [p for p in self.parent if self.find(p) == root]


@dataclass
class ChannelPlan:
    """How channels flow: each block's output channels as (producer, index) or None (cannot be pruned)."""
    layouts: dict                 # block id -> list of (producer, index) | None per channel position
    inputs: dict                  # block id -> list of input block ids by port
    groups: _Groups
    pinned: dict                  # producer id -> why its channels must stay
    analysis: object

    def why_not(self, block_id: str) -> str | None:
        """None when `block_id` can be pruned, else the reason in words."""
        if block_id not in self.groups.parent:
            return self.pinned.get(block_id, f"{block_id} has no output channels that pruning can remove")
        root = self.groups.find(block_id)
        for member in self.groups.members(root):
            if member in self.pinned:
                return self.pinned[member]
        return None

    def prunable(self) -> list[str]:
        return [p for p in self.groups.parent if self.why_not(p) is None]

    def refusal(self, block_id: str) -> str | None:
        """None when `block_id` can be pruned, else a sentence: why not, and which blocks can be instead."""
        why = self.why_not(block_id)
        if why is None:
            return None
        others = self.prunable()
        instead = (f"choose one of {', '.join(others)} instead" if others
                   else "no other block of this graph can be pruned either")
        return f"{block_id} cannot be pruned: {why}; {instead}"

    def group_of(self, block_id: str) -> list[str]:
        return self.groups.members(self.groups.find(block_id))


def plan_channels(doc, data: dict | None = None) -> ChannelPlan:
    result = analyze(doc, data)
    if result.errors:
        raise PruneError(f"the graph has {len(result.errors)} problem(s); fix them before pruning "
                         f"(first: {result.errors[0].text})")
    groups, pinned, layouts, inputs = _Groups(), {}, {}, {}

    def pin(layout, why):
        for entry in layout or ():
            if entry is not None:
                pinned.setdefault(groups.find(entry[0]), why)

    for bid in result.order:
        block = doc.blocks[bid]
        r = result.blocks[bid]
        edges = sorted(doc.edges_into(bid), key=lambda e: e.dst_port)
        inputs[bid] = [e.src for e in edges]
        ins = [layouts.get(e.src) if e.src_port == 0 and doc.output_count(e.src) == 1 else None for e in edges]
        for e, lay in zip(edges, ins):
            if lay is None and e.src in layouts:
                pin(layouts[e.src], f"{e.src}'s second output feeds {bid}")
        shape = r.output_shape
        channels = shape[0] if shape else 0
        kind, facts = block.kind, get_kind(block.kind)
        in_shape = r.input_shapes[0] if r.input_shapes else None
        if facts.prunes:
            one_d = kind != "Linear" or (in_shape is not None and len(in_shape) == 1)
            grouped = kind != "Linear" and r.params.get("groups", 1) != 1
            if not one_d or grouped:
                why = (f"{bid} is a grouped convolution (groups {r.params.get('groups')}): each filter reads a fixed "
                       "slice of the channels" if grouped else
                       f"{bid} reads {len(in_shape or ())}-dimensional samples (its features are their last dimension)")
                pin(ins[0] if ins else None, why)
                layouts[bid] = [None] * channels
                continue
            groups.add(bid)
            out_param = facts.prunes
            if block.full_params().get(out_param) == "auto":
                pinned[bid] = f"{bid}'s {out_param} follows the data set (auto): it is the number of classes"
            layouts[bid] = [(bid, i) for i in range(channels)]
        elif facts.channelwise and ins and ins[0] is not None and len(ins[0]) == channels:
            layouts[bid] = list(ins[0])
        elif kind == "Add" and all(lay is not None and len(lay) == channels for lay in ins):
            whole = all(lay and all(entry is not None and entry[1] == i for i, entry in enumerate(lay))
                        and len({entry[0] for entry in lay}) == 1 for lay in ins)
            if whole:
                for lay in ins[1:]:
                    groups.union(ins[0][0][0], lay[0][0])
            else:
                for lay in ins:
                    pin(lay, f"{bid} adds tensors whose channels pruning cannot line up")
            layouts[bid] = list(ins[0])
        elif kind == "Add" and all(lay is not None for lay in ins):
            counts = " and ".join(str(len(lay)) for lay in ins)
            for lay in ins:      # one input broadcasts over the other's channels: no channel can go
                pin(lay, f"{bid} adds tensors of {counts} channels (broadcast), so no channel of its inputs "
                         "can be removed")
            layouts[bid] = [None] * channels
        elif kind == "Concat" and all(lay is not None for lay in ins) and \
                r.params.get("dim") in (1, -len(shape or ())):
            layouts[bid] = [entry for lay in ins for entry in lay]
        elif kind == "Flatten" and ins and ins[0] is not None and r.params.get("start_dim") == 1 \
                and r.params.get("end_dim") == -1 and in_shape:
            spatial = math.prod(in_shape[1:])
            layouts[bid] = [entry for entry in ins[0] for _ in range(spatial)]
        else:
            why = ("its outputs are the network's outputs" if kind == "Output"
                   else f"{bid} ({kind}) needs every channel it reads")
            for lay in ins:
                pin(lay, why)
            layouts[bid] = [None] * channels if shape else None
    return ChannelPlan(layouts, inputs, groups, pinned, result)


def _share(ratio: float) -> str:
    """'95%'; a ratio that whole percents would show as 0% or 100% keeps the decimals it needs ('99.99999%')."""
    for digits in range(7):
        text = f"{ratio * 100:.{digits}f}"
        if float(text) not in (0.0, 100.0):
            return f"{text}%"
    return f"{ratio * 100:g}%"


def _l1(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().abs().reshape(weight.shape[0], -1).sum(dim=1).double()


def prune_channels(doc, weights: dict | None = None, ratio: float = 0.5, blocks=None,
                   data: dict | None = None) -> PruneResult:
    """Remove `ratio` of the channels of `blocks` (None: every prunable block) and return the smaller
    graph with its weights. A layer of n channels loses round(ratio * n) of them, counted as
    torch.nn.utils.prune counts `amount` (Python's round: halves go to the even count), and keeps at least
    one. `weights` is the model's state_dict (None: freshly initialised)."""
    if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise PruneError(f"the pruning ratio must be between 0 and 1 (exclusive), not {ratio!r}")
    plan = plan_channels(doc, data)
    if weights is None:
        weights = compile_graph(doc, plan.analysis, seed=0).state_dict()
    if blocks is None:
        targets = plan.prunable()
        if not targets:
            raise PruneError("no block of this graph can be pruned (" +
                             "; ".join(sorted(set(plan.pinned.values()))[:3]) + "): pruning removes channels of "
                             "a Conv or Linear block that feeds another Conv or Linear")
    else:
        targets = []
        for b in blocks:
            if b not in doc.blocks:
                others = plan.prunable()
                raise PruneError(f'there is no block "{b}"'
                                 + (f": choose one of {', '.join(others)}" if others else ""))
            why = plan.refusal(b)
            if why:
                raise PruneError(why)
            targets.append(b)
    roots = list(dict.fromkeys(plan.groups.find(t) for t in targets))
    kept: dict[str, list[int]] = {}
    notes = []
    for root in roots:
        members = plan.group_of(root)
        score = sum(_l1(weights[f"{m}.weight"]) for m in members)
        n = score.numel()
        removed = round(ratio * n)      # torch.nn.utils.prune's count (_compute_nparams_toprune): Python's round
        keep = max(1, n - removed)
        if n > 1 and removed >= n:
            who = root if len(members) == 1 else f"{root} (with {', '.join(m for m in members if m != root)})"
            notes.append(f"{who} keeps 1 of its {n} channels, the fewest a layer can have: removing "
                         f"{_share(ratio)} would leave none")
        if keep == n:
            continue
        idx = sorted(torch.topk(score, keep).indices.tolist())
        for m in members:
            kept[m] = idx
    if not kept:
        raise PruneError(f"a ratio of {ratio:g} removes no channel from these blocks: raise it")
    result = _apply(doc, weights, plan, kept, data)
    result.notes = notes
    return result


def _positions(layout, kept_sets: dict) -> list[int] | None:
    """The positions of a tensor's channels that survive, or None when all do."""
    if layout is None:
        return None
    keep = [p for p, entry in enumerate(layout)
            if entry is None or entry[0] not in kept_sets or entry[1] in kept_sets[entry[0]]]
    return None if len(keep) == len(layout) else keep


def _apply(doc, weights: dict, plan: ChannelPlan, kept: dict, data) -> PruneResult:
    new = doc.copy()
    new.weights = None        # the original's weights file no longer fits; PruneResult.weights are the kept ones
    changes = []
    state = {k: v.detach().clone() for k, v in weights.items()}
    kept_sets = {p: set(idx) for p, idx in kept.items()}
    for bid, block in doc.blocks.items():
        facts = get_kind(block.kind)
        srcs = plan.inputs.get(bid, [])
        in_keep = _positions(plan.layouts.get(srcs[0]), kept_sets) if srcs else None
        out_keep = kept.get(bid)
        if out_keep is not None:
            param = facts.prunes
            changes.append((bid, param, block.params.get(param, MISSING), len(out_keep)))
        if in_keep is not None and facts.reads_channels:
            param = facts.reads_channels
            if isinstance(block.params.get(param), int):
                changes.append((bid, param, block.params[param], len(in_keep)))
        if facts.prunes:
            w = f"{bid}.weight"
            if out_keep is not None:
                state[w] = state[w][out_keep]
                if f"{bid}.bias" in state:
                    state[f"{bid}.bias"] = state[f"{bid}.bias"][out_keep]
            if in_keep is not None:
                state[w] = state[w][:, in_keep]
        elif facts.reads_channels and in_keep is not None:     # per-channel statistics (BatchNorm)
            for name in PER_CHANNEL_TENSORS:
                if f"{bid}.{name}" in state:
                    state[f"{bid}.{name}"] = state[f"{bid}.{name}"][in_keep]
    for bid, param, _old, value in changes:
        new.set_param(bid, param, value)
    after = analyze(new, data)
    if after.errors:
        raise PruneError(f"pruning left the graph inconsistent ({after.errors[0].text}); this is a bug")
    model = compile_graph(new, after, weights=False)
    model.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True)
    groups = [plan.group_of(r) for r in dict.fromkeys(plan.groups.find(p) for p in kept)]
    return PruneResult(new, model.state_dict(), changes, kept, groups,
                       {"params": plan.analysis.total_params, "macs": plan.analysis.total_macs},
                       {"params": after.total_params, "macs": after.total_macs})
