"""One training step, made visible: gradient descent and backpropagation with real numbers.

    view = StepView(model, {"optimizer": "adam", "lr": 1e-3}, x, y)
    report = view.step(watch=[("fc1", "weight", (3, 17))])

`step` runs exactly one optimizer step on one batch, the way the trainer does (same optimizer,
same loss), and reports:
    loss_before / loss_after       the batch's loss before the step and after it (same dropout masks;
                                   batch-norm statistics are restored after the second look)
    output_grad_norms              ‖∂L/∂(block output)‖ for every block: the gradient arriving at it,
                                   from the Output back to the Input
    param_grad_norms               ‖∂L/∂w‖ over each block's parameters
    weights                        for each watched weight: w, ∂L/∂w, the optimizer's terms (momentum
                                   buffer, Adam's moments and bias corrections), the new value the
                                   update rule gives, and the value the optimizer really wrote
`loss_surface` computes the loss on a grid along two random filter-normalised directions around the
current weights (Li et al., 2018), with the last step projected onto that plane.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx

from layerloom.graph import rng

from .config import TrainConfig
from .optimization import make_optimizer, training_loss


@dataclass
class WeightStep:
    block: str
    param: str
    index: tuple[int, ...]
    before: float
    grad: float
    terms: dict                 # optimizer-specific quantities (momentum buffer, m, v, m̂, v̂, ...)
    rule: str                   # the update written out with its numbers
    expected: float             # what the rule gives
    after: float                # what the optimizer wrote


@dataclass
class StepReport:
    loss_before: float
    loss_after: float
    output_grad_norms: dict[str, float]
    param_grad_norms: dict[str, float]
    weights: list[WeightStep] = field(default_factory=list)
    delta: dict[str, torch.Tensor] = field(default_factory=dict)   # θ_after − θ_before, per parameter


class _Retain(fx.Interpreter):
    """Runs the model keeping each node's output in the autograd graph, to ask for its gradient."""

    def __init__(self, gm):
        super().__init__(gm)
        self.outputs: dict[str, torch.Tensor] = {}

    def run_node(self, n):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor) and out.requires_grad and n.op != "output":
            self.outputs[n.name] = out
        return out


def _fmt(v: float) -> str:
    return f"{v:.6g}"


class StepView:
    def __init__(self, model: fx.GraphModule, config: dict | TrainConfig, x: torch.Tensor, y: torch.Tensor):
        self.model = model
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_sources({}, config)
        self.x, self.y = x, y
        self.optimizer = make_optimizer(self.config, model.parameters())
        self.steps_taken = 0
        self._seed = 1234

    def _loss(self, interpreter=None) -> torch.Tensor:
        with rng.LOCK, torch.random.fork_rng(devices=[]):     # no run's step draws meanwhile (graph/rng.py)
            torch.manual_seed(self._seed)     # the same dropout masks before and after the step
            logits = (interpreter.run(self.x) if interpreter is not None else self.model(self.x))
        return training_loss(self.config.loss, logits, self.y)

    def step(self, watch=()) -> StepReport:
        model = self.model
        model.train()
        names = dict(model.named_parameters())
        before = {k: v.detach().clone() for k, v in names.items()}
        retain = _Retain(model)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(retain)
        blocks = [n for n in retain.outputs if not n.endswith(("_outputs", "_sequence"))]
        grads = torch.autograd.grad(loss, [retain.outputs[b] for b in blocks], retain_graph=True,
                                    allow_unused=True)
        output_norms = {b: float(g.norm()) for b, g in zip(blocks, grads) if g is not None}
        loss.backward()
        param_norms: dict[str, float] = {}
        for name, p in names.items():
            if p.grad is not None:
                block = name.split(".")[0]
                param_norms[block] = math.sqrt(param_norms.get(block, 0.0) ** 2 + float(p.grad.norm()) ** 2)
        pending = [(b, pn, tuple(i), names[f"{b}.{pn}"]) for b, pn, i in watch]
        states = [self._terms_before(p, i) for _, _, i, p in pending]
        self.optimizer.step()
        self.steps_taken += 1
        weights = [self._explain(b, pn, i, p, before[f"{b}.{pn}"], st) for (b, pn, i, p), st in zip(pending, states)]
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        with torch.no_grad():
            after_loss = float(self._loss())
        for k, v in model.named_buffers():          # the second look must not move BN statistics
            v.copy_(buffers[k])
        delta = {k: v.detach() - before[k] for k, v in names.items()}
        return StepReport(float(loss.detach()), after_loss, output_norms, param_norms, weights, delta)

    # -- the update rule with its numbers ---------------------------------------------------------
    def _terms_before(self, p: torch.Tensor, index) -> dict:
        state = self.optimizer.state.get(p, {})
        out = {}
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            if state.get(key) is not None:
                out[key] = float(state[key][index])
        out["step"] = int(state["step"]) if "step" in state else 0
        return out

    def _explain(self, block, pname, index, p, w_before: torch.Tensor, prev: dict) -> WeightStep:
        group = self.optimizer.param_groups[0]
        lr, wd = group["lr"], group["weight_decay"]
        w = float(w_before[index])
        g = float(p.grad[index])
        after = float(p.detach()[index])
        kind = self.config.optimizer
        terms: dict = {}
        if kind == "sgd":
            d = g + wd * w
            mu = group["momentum"]
            if mu:
                buf = d if "momentum_buffer" not in prev else mu * prev["momentum_buffer"] + d
                terms.update(momentum=mu, previous_buffer=prev.get("momentum_buffer"), buffer=buf)
                expected = w - lr * buf
                rule = (f"v ← {_fmt(mu)}·{_fmt(prev['momentum_buffer']) if 'momentum_buffer' in prev else '—'} + "
                        f"{_fmt(d)} = {_fmt(buf)};  w ← {_fmt(w)} − {_fmt(lr)}·{_fmt(buf)} = {_fmt(expected)}")
                if "momentum_buffer" not in prev:
                    rule = f"v ← ∂L/∂w = {_fmt(d)} (first step);  w ← {_fmt(w)} − {_fmt(lr)}·{_fmt(buf)} = " \
                           f"{_fmt(expected)}"
            else:
                expected = w - lr * d
                rule = f"w ← w − η·∂L/∂w = {_fmt(w)} − {_fmt(lr)}·{_fmt(d)} = {_fmt(expected)}"
        else:
            b1, b2 = group["betas"]
            eps = group["eps"]
            t = prev["step"] + 1
            grad = g + wd * w if kind == "adam" else g
            m = b1 * prev.get("exp_avg", 0.0) + (1 - b1) * grad
            v = b2 * prev.get("exp_avg_sq", 0.0) + (1 - b2) * grad * grad
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            base = w * (1 - lr * wd) if kind == "adamw" else w
            expected = base - lr * m_hat / (math.sqrt(v_hat) + eps)
            terms.update(step=t, m=m, v=v, m_hat=m_hat, v_hat=v_hat, beta1=b1, beta2=b2, eps=eps)
            decay = f"{_fmt(w)}·(1 − {_fmt(lr)}·{_fmt(wd)})" if kind == "adamw" and wd else _fmt(w)
            rule = (f"m ← {b1:g}·m + {1 - b1:g}·g = {_fmt(m)};  v ← {b2:g}·v + {1 - b2:g}·g² = {_fmt(v)};  "
                    f"m̂ = {_fmt(m_hat)}, v̂ = {_fmt(v_hat)};  w ← {decay} − {_fmt(lr)}·m̂/(√v̂ + {eps:g}) = "
                    f"{_fmt(expected)}")
        return WeightStep(block, pname, index, w, g, terms, rule, expected, after)


# -- the loss surface around the weights -----------------------------------------------------------
def filter_normalised_direction(model, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A random direction with each filter scaled to the norm of the weight's filter (Li et al.,
    2018); one-dimensional parameters (biases, norm scales) get no direction."""
    out = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            out[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        dims = tuple(range(1, p.dim()))
        norm = lambda t: torch.linalg.vector_norm(t, dim=dims, keepdim=True)  # noqa: E731
        d = d * (norm(p.detach()) / norm(d).clamp_min(1e-12))
        out[name] = d
    return out


@torch.no_grad()
def loss_surface(model, x, y, loss: str = "ce", steps: int = 21, span: float = 1.0, seed: int = 0,
                 step_delta: dict | None = None, cancel=None) -> dict:
    """Loss on a steps×steps grid θ + α·d1 + β·d2 (α, β in [−span, span]) in eval mode; with
    `step_delta`, the step's coordinates (α, β) by least squares on that plane."""
    g = torch.Generator().manual_seed(seed)
    d1, d2 = filter_normalised_direction(model, g), filter_normalised_direction(model, g)
    params = dict(model.named_parameters())
    origin = {k: v.detach().clone() for k, v in params.items()}
    alphas = np.linspace(-span, span, steps)
    grid = np.zeros((steps, steps), dtype=np.float64)
    was = model.training
    model.eval()
    try:
        for i, a in enumerate(alphas):
            for j, b in enumerate(alphas):
                if cancel is not None and cancel():
                    return {}
                for k, p in params.items():
                    p.copy_(origin[k] + float(a) * d1[k] + float(b) * d2[k])
                grid[i, j] = float(training_loss(loss, model(x), y))
    finally:
        for k, p in params.items():
            p.copy_(origin[k])
        model.train(was)
    result = {"alphas": alphas, "betas": alphas, "loss": grid}
    if step_delta is not None:
        flat = lambda d: torch.cat([d[k].reshape(-1) for k in params])  # noqa: E731
        basis = torch.stack([flat(d1), flat(d2)], dim=1).double()
        coords = torch.linalg.lstsq(basis, flat(step_delta).double().unsqueeze(1)).solution.flatten()
        result["step"] = (float(coords[0]), float(coords[1]))
    return result
