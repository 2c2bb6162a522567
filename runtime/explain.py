"""Explanations of one prediction: saliency, integrated gradients, Grad-CAM, occlusion, per-token bars.

Everything runs over the compiled GraphModule with a torch.fx Interpreter (node names are block
ids, as in taps.py) and `torch.autograd.grad` on the recorded node, never with module hooks. A
recorded node becomes a leaf tensor and a copy of it flows on, so an in-place ReLU downstream
cannot change what was recorded, a module used twice is two nodes, and merge blocks (Add, Concat)
are nodes like any other.

    model.eval()
    e = explain(model, x, "gradcam", block="conv2")      # x: one sample with its batch dim
    e.attribution    # H×W numpy array on the input's grid;  e.prediction: the top-5

Long methods (integrated gradients, occlusion) report `progress(done, total)` and stop with
`Cancelled` as soon as `cancel` (a threading.Event or a callable) is set.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx, nn

from layerloom.graph.quoting import shown

METHODS = ("saliency", "integrated-gradients", "gradcam", "occlusion")
BASELINES = ("zeros", "blurred")


class ExplainError(ValueError):
    """An explanation that cannot be made; the message says why and what to do."""


class Cancelled(Exception):
    """The explanation was cancelled before it finished."""


class Recorder(fx.Interpreter):
    """Runs the model keeping the values of the nodes in `keep` (tensors that require grad).

    A kept value stays in the autograd graph (a leaf when nothing before it needs grad) and a copy
    of it flows on, so `torch.autograd.grad(score, kept)` works for many nodes at once and in-place
    ops downstream leave it intact. `replace` maps node names to values used instead of computing
    those nodes (to attribute through an intermediate value such as an Embedding's output).
    """

    def __init__(self, gm: fx.GraphModule, keep=(), replace=None):
        super().__init__(gm)
        self.keep = set(keep)
        self.replace = dict(replace or {})
        self.kept: dict[str, torch.Tensor] = {}

    def run_node(self, n):
        if n.name in self.replace:
            value = self.replace[n.name]
            return value.clone() if isinstance(value, torch.Tensor) else value
        out = super().run_node(n)
        if n.name in self.keep and isinstance(out, torch.Tensor) and out.is_floating_point():
            kept = out if out.requires_grad else out.detach().requires_grad_(True)
            self.kept[n.name] = kept
            return kept.clone()
        return out


def class_scores(out) -> torch.Tensor:
    """The model output as [N, classes] scores; an ExplainError when the graph is not a classifier."""
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        gives = f" (this one gives {_sample_text(out)} per sample)" if isinstance(out, torch.Tensor) else ""
        raise ExplainError(f"explanations need a classifier: the graph's Output must give one score per class"
                           f"{gives}; end the graph with a Linear of one output per class")
    return out


def check_finite(scores: torch.Tensor, what: str = "this sample") -> torch.Tensor:
    """`scores` when every one is a number; an ExplainError (NaN or infinite scores explain nothing) when not."""
    if not bool(torch.isfinite(scores).all()):
        raise ExplainError(f"the model's scores for {what} are NaN or infinite, so there is nothing to explain: "
                           "its training diverged; train again with a lower learning rate")
    return scores


def check_one_input(model: fx.GraphModule) -> None:
    """Refuse a graph with several Inputs: an explanation attributes one sample of one input."""
    n = sum(1 for node in model.graph.nodes if node.op == "placeholder")
    if n != 1:
        raise ExplainError(f"explanations need a graph with one Input block, and this one has {n}: "
                           "explain a graph with a single Input")


def forward(model: fx.GraphModule, x: torch.Tensor, keep=(), replace=None):
    """(logits, {node name: recorded leaf}) for a batch `x`."""
    rec = Recorder(model, keep, replace)
    logits = class_scores(rec.run(x))
    missing = set(keep) - set(rec.kept)
    if missing:
        raise ExplainError(f"{', '.join(sorted(missing))} gives no floating-point tensor to explain through: "
                           "pick another block")
    return logits, rec.kept


@contextlib.contextmanager
def gradient_context(model: nn.Module):
    """Gradients are on; on CUDA, recurrent blocks run without cuDNN (its RNN backward needs train mode)."""
    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    on_cuda = any(p.is_cuda for p in model.parameters())
    with torch.enable_grad():
        if recurrent and on_cuda:
            with torch.backends.cudnn.flags(enabled=False):
                yield
        else:
            yield


def _sample_text(x: torch.Tensor) -> str:
    return "×".join(map(str, x.shape[1:])) or "a single number"


def _check_cancel(cancel) -> None:
    if cancel is None:
        return
    flag = cancel.is_set() if hasattr(cancel, "is_set") else cancel()
    if flag:
        raise Cancelled("the explanation was cancelled")


def _report(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


# -- predictions -------------------------------------------------------------------------------------
@torch.no_grad()
def top_k(model, x: torch.Tensor, class_names=None, k: int = 5) -> list[dict]:
    """The k most probable classes for one sample: [{"index", "name", "probability"}]."""
    probs = torch.softmax(class_scores(model(x)).float(), dim=1)[0]
    values, indices = probs.topk(min(k, probs.numel()))
    names = list(class_names or [])
    return [{"index": int(i), "name": names[i] if i < len(names) else str(int(i)), "probability": float(p)}
            for p, i in zip(values.tolist(), indices.tolist())]


# -- gradient methods --------------------------------------------------------------------------------
def saliency(model, x: torch.Tensor, target) -> torch.Tensor:
    """|∂ score_target / ∂ input|, same shape as `x` (Simonyan et al. 2014); `target` as in grad_cam."""
    with gradient_context(model):
        xin = x.detach().clone().requires_grad_(True)
        logits, _ = forward(model, xin)
        (grad,) = torch.autograd.grad(_score(logits, target), xin)
    return grad.abs()


def embedding_saliency(model, x: torch.Tensor, target: int, block: str) -> torch.Tensor:
    """Per token: the size (L2 norm) of ∂ score_target / ∂ the Embedding's output vector; [1, T, 1]."""
    with gradient_context(model):
        logits, kept = forward(model, x, keep=[block])
        (grad,) = torch.autograd.grad(logits[:, target].sum(), kept[block])
    return grad.norm(dim=-1, keepdim=True)


def blurred(x: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """A Gaussian-blurred copy of an image batch, the usual 'blurred' IG baseline."""
    from torchvision.transforms.v2 import functional as F
    # the kernel spans ±3σ, cut to what the image's reflected border can pad (under 16 pixels at σ = 5)
    sizes = [min(int(2 * round(3 * sigma) + 1), 2 * n - 1) for n in x.shape[-2:]]
    return F.gaussian_blur(x, sizes[::-1], [sigma, sigma])


def make_baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    if isinstance(baseline, torch.Tensor):
        return baseline.to(x)
    if baseline == "zeros":
        return torch.zeros_like(x)
    if baseline == "blurred":
        if x.dim() != 4:
            raise ExplainError("a blurred baseline needs an image input (C×H×W): use the zeros baseline")
        return blurred(x)
    raise ExplainError(f"unknown baseline {baseline!r}: use one of {', '.join(BASELINES)}")


def _gauss_legendre(steps: int):
    """Alphas in [0, 1] and their weights (Gauss-Legendre quadrature, numpy's nodes)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return ((nodes + 1) / 2).tolist(), (weights / 2).tolist()


@dataclass
class IntegratedGradients:
    attributions: torch.Tensor     # same shape as the explained value
    score: float                   # f(x) for the target
    baseline_score: float          # f(baseline)

    @property
    def delta(self) -> float:
        return float(self.attributions.sum()) - (self.score - self.baseline_score)

    @property
    def completeness_gap(self) -> float:
        """|Σ attributions − (f(x) − f(baseline))| as a fraction of |f(x) − f(baseline)|."""
        return abs(self.delta) / max(abs(self.score - self.baseline_score), 1e-12)


def integrated_gradients(model, x: torch.Tensor, target: int, baseline="zeros", steps: int = 50,
                         batch: int = 25, through: str | None = None, progress=None,
                         cancel=None) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017), Gauss-Legendre quadrature over `steps` points.

    With `through` (a block id), the path runs over that block's output instead of the input (layer
    integrated gradients; used through an Embedding for token inputs): `x` is then still the model's
    input, and `baseline` an input whose value at that block is the path's start (e.g. padding tokens).
    """
    if steps < 1:
        raise ExplainError("integrated gradients needs at least one step")
    with gradient_context(model):
        if through is None:
            start = make_baseline(x, baseline).detach()
            end = x.detach()
        else:
            base_in = make_baseline(x, baseline) if not isinstance(baseline, torch.Tensor) else baseline.to(x.device)
            with torch.no_grad():
                _, kept_x = forward(model, x, keep=[through])
                _, kept_b = forward(model, base_in.to(x.dtype), keep=[through])
            end, start = kept_x[through].detach(), kept_b[through].detach()
        alphas, weights = _gauss_legendre(steps)
        total = torch.zeros_like(end)
        for done, (lo, hi) in enumerate(_chunks(steps, batch)):
            _check_cancel(cancel)
            a = torch.tensor(alphas[lo:hi], dtype=end.dtype, device=end.device).view(-1, *[1] * (end.dim() - 1))
            w = torch.tensor(weights[lo:hi], dtype=end.dtype, device=end.device).view_as(a)
            path = (start + a * (end - start)).detach().requires_grad_(True)
            if through is None:
                logits, _ = forward(model, path)
            else:
                logits, _ = forward(model, x.expand(hi - lo, *x.shape[1:]), replace={through: path})
            (grad,) = torch.autograd.grad(logits[:, target].sum(), path)
            total += (grad * w).sum(dim=0, keepdim=True)
            _report(progress, hi, steps)
        with torch.no_grad():
            if through is None:
                f_x = float(forward(model, end)[0][0, target])
                f_b = float(forward(model, start)[0][0, target])
            else:
                f_x = float(forward(model, x, replace={through: end})[0][0, target])
                f_b = float(forward(model, x, replace={through: start})[0][0, target])
    return IntegratedGradients((end - start) * total, f_x, f_b)


def _score(logits: torch.Tensor, target) -> torch.Tensor:
    """Σ over the batch of each sample's target score (`target`: one class, or one per sample)."""
    if isinstance(target, torch.Tensor) and target.dim() == 1:
        return logits.gather(1, target.view(-1, 1).to(logits.device)).sum()
    return logits[:, int(target)].sum()


def grad_cam(model, x: torch.Tensor, target, block: str, upsample: bool = True) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) on `block`'s C×H×W output: ReLU(Σ_c mean(∂y/∂A_c)·A_c).

    `target` is one class or a LongTensor of one class per sample. Returns [N, 1, h, w] on the
    block's grid, or bilinearly upsampled to the input's H×W.
    """
    with gradient_context(model):
        logits, kept = forward(model, x.detach(), keep=[block])
        a = kept[block]
        if a.dim() != 4:
            raise ExplainError(f"Grad-CAM needs a block whose output is channels × height × width; {block} "
                               f"gives {'×'.join(map(str, a.shape[1:]))}: pick a convolution or pooling block")
        (grad,) = torch.autograd.grad(_score(logits, target), a)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * a.detach()).sum(dim=1, keepdim=True))
    if upsample and x.dim() == 4:
        cam = nn.functional.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return cam


def occlusion(model, x: torch.Tensor, target: int, window=(4, 4), stride=(2, 2), baseline: float = 0.0,
              batch: int = 64, progress=None, cancel=None) -> torch.Tensor:
    """Occlusion (Zeiler & Fergus 2014): the drop in the target score when a window is covered.

    Each input element gets the mean drop over the windows that cover it (all channels covered at
    once); returns a tensor shaped like `x`.
    """
    if x.dim() != 4:
        raise ExplainError(f"occlusion needs an image input (C×H×W), and this model reads {_sample_text(x)}: "
                           "use saliency or integrated-gradients")
    wh, ww = (window, window) if isinstance(window, int) else window
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    _, c, h, w = x.shape
    if not (1 <= wh <= h and 1 <= ww <= w):
        raise ExplainError(f"the occlusion window ({wh}×{ww}) must fit the {h}×{w} input: give a window of 1 to "
                           f"{min(h, w)} pixels" + ("" if h == w else f" ({h} high, {w} wide at most)"))
    if sh < 1 or sw < 1:
        raise ExplainError(f"the occlusion stride ({sh}×{sw}) must be at least 1 pixel: give a stride of 1 or more")
    tops = list(range(0, h - wh + 1, sh))
    lefts = list(range(0, w - ww + 1, sw))
    positions = [(t, left) for t in tops for left in lefts]
    with torch.no_grad():
        base_score = forward(model, x)[0][0, target]
        total = torch.zeros_like(x[0])
        count = torch.zeros_like(x[0])
        for lo, hi in _chunks(len(positions), batch):
            _check_cancel(cancel)
            xs = x.repeat(hi - lo, 1, 1, 1)
            for k, (t, left) in enumerate(positions[lo:hi]):
                xs[k, :, t:t + wh, left:left + ww] = baseline
            drop = base_score - forward(model, xs)[0][:, target]
            for k, (t, left) in enumerate(positions[lo:hi]):
                total[:, t:t + wh, left:left + ww] += drop[k]
                count[:, t:t + wh, left:left + ww] += 1
            _report(progress, hi, len(positions))
    return (total / count.clamp_min(1)).unsqueeze(0)


# -- choosing blocks ---------------------------------------------------------------------------------
def _node_shapes(model, x: torch.Tensor) -> dict[str, tuple]:
    shapes = {}

    class _Shapes(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                shapes[n.name] = tuple(out.shape[1:])
            return out
    with torch.no_grad():
        _Shapes(model).run(x)
    return shapes


def _image_shapes(model, x: torch.Tensor) -> dict[str, tuple]:
    placeholders = {n.name for n in model.graph.nodes if n.op == "placeholder"}
    return {name: shape for name, shape in _node_shapes(model, x).items()
            if len(shape) == 3 and name not in placeholders}


def image_blocks(model, x: torch.Tensor) -> list[str]:
    """Blocks whose output is C×H×W, in graph order (Grad-CAM candidates)."""
    return list(_image_shapes(model, x))


def default_gradcam_block(model, x: torch.Tensor) -> str | None:
    """The last block whose C×H×W output is larger than 1×1 (the last convolution stage, as Grad-CAM is
    meant to be used): a global pooling's 1×1 map has one value per channel, so its Grad-CAM is one flat
    colour. The last C×H×W block when every map is 1×1; None when there is none."""
    return _last_spatial(_image_shapes(model, x))


def _last_spatial(shapes: dict[str, tuple]) -> str | None:
    spatial = [b for b, (_, h, w) in shapes.items() if h * w > 1]
    return (spatial or list(shapes) or [None])[-1]


def graph_blocks(model) -> list[str]:
    """The model's block ids in graph order (a recurrent block's module node, named apart from the block
    whose output is picked out after it, is left out)."""
    return [n.name for n in model.graph.nodes if n.op in ("call_module", "call_function", "call_method")
            and not (n.op == "call_module" and n.name != n.target)]


def check_block(model, block: str) -> None:
    """An ExplainError naming the graph's blocks when `block` is not one of them."""
    if block in {n.name for n in model.graph.nodes if n.op not in ("placeholder", "output")}:
        return
    names = graph_blocks(model)
    listed = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    raise ExplainError(f"the graph has no block {shown(block)}: give one of its blocks ({listed})")


def uses_block(method: str, x: torch.Tensor) -> bool:
    """Whether `method` explains through a block for this sample: Grad-CAM always; saliency and integrated
    gradients on token ids (through their Embedding). The others ignore a block."""
    return method == "gradcam" or (not x.is_floating_point() and method in ("saliency", "integrated-gradients"))


def embedding_block(model) -> str | None:
    """The first block that is an Embedding (token attribution goes through its output)."""
    for n in model.graph.nodes:
        if n.op == "call_module" and isinstance(model.get_submodule(n.target), nn.Embedding):
            return n.name
    return None


# -- one call for all methods ------------------------------------------------------------------------
@dataclass
class Explanation:
    method: str
    target: int
    prediction: list[dict]             # top-5
    attribution: np.ndarray            # H×W for images, T for sequences (a bar per step)
    kind: str                          # "image" or "sequence"
    block: str | None = None
    completeness_gap: float | None = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"method": self.method, "target": self.target, "prediction": self.prediction, "kind": self.kind}
        if self.block:
            out["block"] = self.block
        if self.completeness_gap is not None:
            out["completeness_gap"] = self.completeness_gap
        out.update(self.details)
        return out


def explain(model, x: torch.Tensor, method: str, target: int | None = None, block: str | None = None,
            class_names=None, baseline="zeros", steps: int = 50, window=(4, 4), stride=(2, 2),
            progress=None, cancel=None) -> Explanation:
    """Explain the model's score for `target` (default: its prediction) on one sample `x` ([1, ...])."""
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if x.dim() < 2 or x.shape[0] != 1:
        raise ExplainError("explain one sample at a time (a batch of one)")
    check_one_input(model)
    if block is not None:
        check_block(model, block)
    with torch.no_grad():
        n_out = check_finite(class_scores(model(x))).shape[1]
    prediction = top_k(model, x, class_names)
    target = prediction[0]["index"] if target is None else int(target)
    if not 0 <= target < n_out:
        raise ExplainError(f"target class {target} does not exist: the model has {n_out} outputs (0 to {n_out - 1})")
    tokens = not x.is_floating_point()
    image = x.dim() == 4
    gap = None
    details = {}
    if tokens:
        block = block or embedding_block(model)
        if block is None:
            raise ExplainError("this model reads token ids but has no Embedding block to attribute through")
        if method in ("gradcam", "occlusion"):
            raise ExplainError(f"{method} needs an image input: for token inputs use saliency or "
                               "integrated-gradients (a bar per token)")
    if method == "saliency":
        if tokens:
            attr = embedding_saliency(model, x, target, block)
        else:
            attr = saliency(model, x, target)
    elif method == "integrated-gradients":
        base = torch.zeros_like(x) if tokens else baseline
        ig = integrated_gradients(model, x, target, base, steps=steps, through=block if tokens else None,
                                  progress=progress, cancel=cancel)
        attr, gap = ig.attributions, ig.completeness_gap
        details = {"score": ig.score, "baseline_score": ig.baseline_score, "steps": steps,
                   "baseline": "padding tokens" if tokens else (baseline if isinstance(baseline, str) else "given")}
    elif method == "gradcam":
        if not image:
            raise ExplainError(f"Grad-CAM needs an image input (C×H×W), and this model reads {_sample_text(x)}: "
                               "use saliency or integrated-gradients")
        shapes = _image_shapes(model, x)
        candidates = list(shapes)
        if not candidates:
            raise ExplainError("Grad-CAM needs a block with a channels × height × width output and this graph has "
                               "none: use saliency, integrated-gradients or occlusion")
        block = block or _last_spatial(shapes)
        if block not in candidates:
            raise ExplainError(f"{block} has no channels × height × width output: pick one of {', '.join(candidates)}")
        attr = grad_cam(model, x, target, block)
    else:
        attr = occlusion(model, x, target, window, stride, progress=progress, cancel=cancel)
        details = {"window": list(window) if not isinstance(window, int) else [window, window],
                   "stride": list(stride) if not isinstance(stride, int) else [stride, stride]}
    if block is not None and not uses_block(method, x):
        details["warning"] = (f"{method} does not explain through a block for a {_sample_text(x)} sample, so "
                              f"block {shown(block)} was ignored: a block is for gradcam (and for saliency or "
                              "integrated-gradients on token ids)")
    attr = attr.detach().float().cpu()[0]
    if tokens:
        values = attr.sum(dim=-1).numpy()                  # a bar per token: sum over the embedding
        kind = "sequence"
    elif image:
        values = attr.abs().amax(dim=0).numpy() if method in ("saliency",) else attr.sum(dim=0).numpy()
        kind = "image"
    else:
        values = attr.reshape(attr.shape[0], -1).sum(dim=-1).numpy() if attr.dim() > 1 else attr.numpy()
        kind = "sequence"                                  # a bar per time step
    return Explanation(method, target, prediction, values, kind, block if (tokens or method == "gradcam") else None,
                       gap, details)
