"""What a trained network learnt, as plain data: filter grids, histograms, top activating samples.

    grid = filter_grid(model)                          # H×W×3 uint8: first-layer filters
    w = weight_histograms(model, "conv2")              # {"weight": (counts, edges), "bias": ...}
    a = activation_histogram(model, batches, "conv2")  # (counts, edges) over validation samples
    top = top_activating(model, batches, "conv2", channel=3)   # the 9 samples it likes most
    hist, top = block_summary(model, batches, "conv2", 3)    # both in one pass over the samples

`batches` yields (indices, model inputs) — `Subject.batches()` (explain_subject.py) fits after
dropping its raw and label parts. Activations come from the fx Interpreter of explain.py.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import torch
from torch import nn

from layerloom.graph.convnet_modules import LayerNorm2d, LayerScale
from layerloom.graph.token_modules import ClassToken, PositionEmbedding

from .explain import ExplainError, Recorder
from .heatmaps import colorize


class NotFinite(ExplainError):
    """Every value to show is NaN or infinite (a training run that diverged)."""


def first_conv(model) -> str | None:
    """The first Conv2d block in graph order."""
    for n in model.graph.nodes:
        if n.op == "call_module" and isinstance(model.get_submodule(n.target), nn.Conv2d):
            return n.name
    return None


def _module(model, block: str) -> nn.Module:
    """The block's module: the model's attribute named after the block (a recurrent block's module is called by
    a node of another name, its output picked out after it)."""
    for n in model.graph.nodes:
        if n.op == "call_module" and (n.name == block or n.target == block):
            return model.get_submodule(n.target)
    raise ExplainError(f"{block} is not a block with weights in this model")


def filter_tiles(weight: torch.Tensor) -> np.ndarray:
    """One RGB tile per filter [O, kh, kw, 3] (uint8), each normalised symmetrically around 0.

    Three input channels are shown as colour (0 → grey, each channel's sign and size as its own
    colour component); otherwise the filter's input channels are summed and shown with a
    blue-white-red diverging map (white is 0).
    """
    w = weight.detach().float().cpu()
    if w.dim() != 4:
        raise ExplainError("filters are shown for Conv2d blocks (weights out × in × height × width)")
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    if w.shape[1] == 3:
        rgb = (0.5 + 0.5 * w / scale).permute(0, 2, 3, 1).numpy()
        return (rgb * 255).round().clip(0, 255).astype(np.uint8)
    summed = w.sum(dim=1)
    summed = summed / summed.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    return np.stack([colorize(f.numpy(), signed=True) for f in summed])


def tile_grid(tiles: np.ndarray, scale: int = 8, gap: int = 2, columns: int | None = None,
              background=(255, 255, 255)) -> np.ndarray:
    """Tiles [N, h, w, 3] laid out in a grid, each enlarged `scale`× (nearest), as H×W×3 uint8."""
    n, h, w, _ = tiles.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    th, tw = h * scale, w * scale
    out = np.empty((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), dtype=np.uint8)
    out[:] = background
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        out[y:y + th, x:x + tw] = tiles[i].repeat(scale, axis=0).repeat(scale, axis=1)
    return out


def filter_grid(model, block: str | None = None, scale: int = 8) -> np.ndarray:
    """The (first, by default) Conv2d's filters as one picture."""
    block = block or first_conv(model)
    if block is None:
        raise ExplainError("this model has no Conv2d block, so it has no filters to show")
    module = _module(model, block)
    if not isinstance(module, nn.Conv2d):
        raise ExplainError(f"{block} is not a Conv2d block: filters are shown for convolutions")
    if not bool(torch.isfinite(module.weight).all()):
        raise NotFinite(f"{block}'s filters hold NaN or infinite weights, so they cannot be drawn: its training "
                        "diverged; train again with a lower learning rate")
    return tile_grid(filter_tiles(module.weight), scale=scale)


def _binned(v: torch.Tensor, bins: int, what: str = "the values") -> tuple[torch.Tensor, torch.Tensor]:
    """(counts, edges) of the finite float32 values `v`, the edges spanning them (a unit around one value)."""
    v = v[torch.isfinite(v)]
    if v.numel() == 0:
        raise NotFinite(f"all of {what} are NaN or infinite, so there is nothing to plot: its training "
                        "diverged; train again with a lower learning rate")
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return torch.histogram(v, bins=bins, range=(lo, hi))


def _histogram(values: torch.Tensor, bins: int, what: str = "the values"):
    counts, edges = _binned(values.detach().float().cpu().reshape(-1), bins, what)
    return counts.numpy(), edges.numpy()


def weight_histograms(model, block: str, bins: int = 50) -> dict:
    """{parameter name: (counts, bin edges)} for the block's parameters."""
    params = dict(_module(model, block).named_parameters())
    if not params:
        raise ExplainError(f"{block} has no weights")
    return {name: _histogram(p, bins, f"{block}'s {name} values") for name, p in params.items()}


class _Reached(Exception):
    """The block looked at has run: the layers after it are not needed."""


class _UpTo(Recorder):
    """A Recorder that stops once its one kept block has run (the rest of the network would be wasted work)."""

    def run_node(self, n):
        out = super().run_node(n)
        if self.kept:
            raise _Reached
        return out


@torch.no_grad()
def _activations(model, batches, block: str):
    """(indices, the block's output) for each batch, the network run only as far as the block."""
    was = model.training
    model.eval()
    try:
        for idx, x in batches:
            rec = _UpTo(model, [block])
            try:
                rec.run(x)
            except _Reached:
                pass
            if block not in rec.kept:
                raise ExplainError(f"{block} gives no floating-point output to look at: pick another block")
            yield idx, rec.kept[block].detach()
    finally:
        model.train(was)


HELD_VALUES = 1 << 23        # activation values held at once while binning (32 MB of float32)


class StreamingHistogram:
    """The histogram of every value fed to it, a batch at a time, in bounded memory.

    NaN and infinite values are left out and counted in `not_finite`. Values are held until more than
    `held` have come; the bin edges then span the values seen so far and
    every later batch is counted into those same edges (`torch.histogram` over their range: the counts
    are `numpy.histogram` of all the values with these edges). Later values beyond the edges are not
    binned: `below` and `above` count them. A stream that fits in `held` values is binned whole, its
    edges spanning every value."""

    def __init__(self, bins: int = 50, held: int = HELD_VALUES, what: str = "the values"):
        self.bins, self.held, self.what = bins, held, what
        self._waiting: list[torch.Tensor] = []
        self._waiting_n = 0
        self.counts: torch.Tensor | None = None
        self.edges: torch.Tensor | None = None
        self.below = self.above = self.not_finite = 0

    def add(self, values: torch.Tensor) -> None:
        v = values.detach().float().cpu().reshape(-1)
        finite = torch.isfinite(v)
        if not bool(finite.all()):
            self.not_finite += int((~finite).sum())
            v = v[finite]
        if self.edges is None:
            self._waiting.append(v)
            self._waiting_n += v.numel()
            if self._waiting_n > self.held:
                self._fix_edges()
            return
        # the range gives the same edges as the first batch's (one linspace), counted 4x faster than by edges
        counts, _ = torch.histogram(v, bins=self.bins, range=(float(self.edges[0]), float(self.edges[-1])))
        self.counts += counts
        self.below += int((v < self.edges[0]).sum())
        self.above += int((v > self.edges[-1]).sum())

    def _fix_edges(self) -> None:
        seen = torch.cat(self._waiting) if self._waiting else torch.zeros(0)
        self._waiting, self._waiting_n = [], 0
        if seen.numel() == 0 and not self.not_finite:
            raise ExplainError("there are no values to make a histogram of: pick a block that gives some")
        self.counts, self.edges = _binned(seen, self.bins, self.what)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(counts, bin edges) as numpy arrays."""
        if self.edges is None:
            self._fix_edges()
        return self.counts.numpy(), self.edges.numpy()


def activation_histogram(model, batches, block: str, bins: int = 50, held: int = HELD_VALUES):
    """(counts, bin edges) of every value the block outputs over the given samples, binned batch by batch
    (StreamingHistogram: the edges span the first `held` values, or all of them when they fit)."""
    hist = StreamingHistogram(bins, held, f"{block}'s outputs")
    for _, a in _activations(model, batches, block):
        hist.add(a)
    return hist.result()


# Where a block's channels lie in its output (batch first): dim 1 for convolutions, pooling and the norms
# that count channels (N×C×L, N×C×H×W); the last dim for blocks that give features per step or token.
_CHANNELS_FIRST = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool2d,
                   nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm,
                   nn.Upsample, nn.ChannelShuffle, LayerNorm2d, LayerScale)
_CHANNELS_LAST = (nn.RNNBase, nn.Embedding, nn.MultiheadAttention, nn.Linear, nn.LayerNorm, ClassToken,
                  PositionEmbedding)
_FOLLOWS_INPUT = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU, nn.ReLU6, nn.SiLU, nn.Hardswish,
                  nn.Hardsigmoid, nn.ELU, nn.Softmax, nn.LogSoftmax, nn.Dropout, nn.Identity)


def channel_axis(model, block: str) -> int | None:
    """The dim of `block`'s (batched) output that holds its channels: 1 (channels first: Conv1d, pooling,
    BatchNorm1d over C×L, ...), -1 (last: recurrent blocks, Embedding, attention, Linear) or None (unknown:
    decided by the output's rank). Activations, dropout and merges keep the layout of their first input."""
    nodes = {n.name: n for n in model.graph.nodes}
    node = nodes.get(block)
    for _ in range(len(nodes)):
        if node is None or node.op not in ("call_module", "call_function"):
            return None
        if node.op == "call_function":
            if node.target not in (operator.getitem, operator.add, operator.mul, torch.cat):
                return None
        else:
            m = model.get_submodule(node.target)
            if isinstance(m, _CHANNELS_FIRST):
                return 1
            if isinstance(m, _CHANNELS_LAST):
                return -1
            if not isinstance(m, _FOLLOWS_INPUT) and type(m).__name__ != "StochasticDepth":
                return None
        ups = node.all_input_nodes
        node = ups[0] if ups else None
    return None


def _axis(a: torch.Tensor, axis: int | None) -> int:
    """The channel dim of the batched activation `a` (0 for N×F, where every value is a channel)."""
    if a.dim() <= 2:
        return 1 if a.dim() == 2 else 0
    if axis is None:                  # unknown block: N×C×H×W is channels first, N×T×H a sequence
        axis = 1 if a.dim() == 4 else -1
    return axis % a.dim()


def channel_count(a: torch.Tensor, axis: int | None = None) -> int:
    """How many channels the batched activation `a` has (`axis` as `channel_axis` gives it)."""
    return a.shape[_axis(a, axis)] if a.dim() >= 2 else 1


def channel_activation(a: torch.Tensor, channel: int, axis: int | None = None) -> torch.Tensor:
    """One value per sample for a channel: the mean over positions (images, sequences) or time (recurrent
    units); `axis` is the channel dim as `channel_axis` gives it (None: channels first for N×C×H×W, last
    for N×T×H)."""
    if a.dim() <= 2:
        return a.reshape(a.shape[0], -1)[:, channel]
    picked = a.select(_axis(a, axis), channel)
    return picked.reshape(a.shape[0], -1).mean(dim=1)


class TopSamples:
    """The k samples whose `channel` of a block is largest, fed the block's output a batch at a time
    (`axis`: the output's channel dim, as `channel_axis` gives it)."""

    def __init__(self, block: str, channel: int, k: int = 9, axis: int | None = None):
        self.block, self.channel, self.k, self.axis = block, channel, k, axis
        self.values, self.indices = torch.empty(0), torch.empty(0, dtype=torch.int64)

    def add(self, idx: torch.Tensor, a: torch.Tensor) -> None:
        channels = channel_count(a, self.axis)
        if not 0 <= self.channel < channels:
            raise ExplainError(f"{self.block} has {channels} channels (0 to {channels - 1}); there is no channel "
                               f"{self.channel}: pick one from 0 to {channels - 1}")
        v = channel_activation(a, self.channel, self.axis).float().cpu()
        self.values = torch.cat([self.values, v])
        self.indices = torch.cat([self.indices, idx.cpu()])
        if len(self.values) > self.k:
            keep = self.values.topk(self.k).indices
            self.values, self.indices = self.values[keep], self.indices[keep]

    def result(self) -> list[dict]:
        """[{"index", "activation"}], largest first."""
        order = self.values.argsort(descending=True)
        return [{"index": int(self.indices[i]), "activation": float(self.values[i])} for i in order]


def top_activating(model, batches, block: str, channel: int, k: int = 9) -> list[dict]:
    """The k samples whose `channel` of `block` is largest: [{"index", "activation"}], largest first."""
    return block_summary(model, batches, block, channel, k, bins=None)[1]


def block_summary(model, batches, block: str, channel: int, k: int = 9, bins: int | None = 50,
                  held: int = HELD_VALUES):
    """In one pass over `batches`: the block's activation histogram (None when `bins` is None; as
    StreamingHistogram) and its top-k samples for `channel` (as top_activating)."""
    hist = StreamingHistogram(bins, held, f"{block}'s outputs") if bins is not None else None
    top = TopSamples(block, channel, k, channel_axis(model, block))
    for idx, a in _activations(model, batches, block):
        top.add(idx, a)
        if hist is not None:
            hist.add(a)
    return hist, top.result()
