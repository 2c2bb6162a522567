"""Training health: sampled statistics per block while a run trains, and the problems they show.

`HealthCollector(every=50)` is a trainer extension (see extensions.py). On every `every`-th step
(the first step included) it records, per block:

    act_mean, act_std   the block's output on the step's batch
    frac_nonpos         the fraction of those values that are ≤ 0
    dead_frac           the fraction of channels (features, units) never positive on the batch
    grad_rms            root mean square of ∂loss/∂output
    param_grad_norm     ‖∂loss/∂w‖ over the block's parameters (the step's real gradients)
    update_ratio        ‖Δw‖/‖w‖: how far the optimizer moved the block's weights in that step

The activations and output gradients come from one extra forward and backward pass on (up to 32
samples of) the step's batch through a torch.fx Interpreter (taps.py, explain.py): no module hooks, BatchNorm statistics
and the random-number stream are put back afterwards, so training is the same with or without
the collector. Without the collector nothing at all runs. Rows go to `health.csv` in the run folder;
problems become Diagnostics on the block, sent once each in a `health` event and printed by
`layerloom train`. Each event also carries the sample's indicators (health_indicators.py), and the
worst of them over the run goes to `health.json` with every problem seen.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from layerloom.graph import rng
from layerloom.graph.diagnostics import Diagnostic
from layerloom.graph.fileformat import MAX_BLOCKS
from layerloom.graph.quoting import shown as shown_text

from .explain import Recorder
from .path_problems import os_error_text

from .health_indicators import (ACTIVATIONS, DEAD_FRACTION, EXPLODING_UPDATE, FIELDS, LARGE_UPDATE, STATS,
                                VANISHING, HealthProblem, health_problem, indicators, read_summary, worse,
                                write_summary)

DEFAULT_EVERY = 50
SIDE_BATCH = 32            # samples of the step's batch that the statistics pass looks at
# read_health makes a blocks × steps table: a file naming many blocks and many steps (edited or crafted; a
# real run writes every block at every sampled step) would make one far larger than the file. A graph holds
# at most MAX_BLOCKS blocks; a million training steps sampled every 50 are 20,000 steps.
MAX_HEALTH_BLOCKS = MAX_BLOCKS
MAX_HEALTH_STEPS = 20_000
MAX_HEALTH_CELLS = 1_000_000   # blocks × steps: beyond it, evenly spaced steps are kept


def activation_stats(a: torch.Tensor) -> dict:
    """Mean, std, fraction ≤ 0 and the fraction of channels never positive, over a batch [N, ...]."""
    a = a.detach()
    # channels: dim 1 of images (N×C×H×W), else the last dim (features, or units over time)
    dims = (0, 2, 3) if a.dim() == 4 else tuple(range(a.dim() - 1)) if a.dim() > 1 else (0,)
    std, mean = torch.std_mean(a.float()) if a.numel() > 1 else (torch.zeros(()), a.float().mean())
    dead = (a.amax(dim=dims) <= 0).float().mean()
    return {"act_mean": float(mean), "act_std": float(std),
            "frac_nonpos": int(a.numel() - torch.count_nonzero(a > 0)) / max(1, a.numel()),
            "dead_frac": float(dead)}


def _fmt_ratio(r: float) -> str:
    if r == 0 or not math.isfinite(r):
        return str(r)
    exp = math.floor(math.log10(abs(r)))
    return f"{r:.2g}" if -3 <= exp <= 3 else f"10^{exp}"


class HealthCollector:
    """A trainer extension that samples per-block statistics every `every` steps."""

    def __init__(self, every: int = DEFAULT_EVERY, csv_name: str = "health.csv"):
        if every < 1:
            raise ValueError("sample training health every 1 or more steps")
        self.every = int(every)
        self.csv_name = csv_name
        self.rows: list[dict] = []
        self.problems: dict[tuple[str, str], Diagnostic] = {}
        self._batch = None
        self._before: dict[str, list[torch.Tensor]] = {}
        self._current: dict[str, dict] = {}

    # -- trainer hooks -----------------------------------------------------------------------------
    def setup(self, trainer):
        doc = trainer.doc
        model = trainer.model
        self.kinds = {b.id: b.kind for b in doc.blocks.values()}
        self.feeds = {e.dst: e.src for e in doc.edges} if hasattr(doc, "edges") else {}
        self.nodes = [n.name for n in model.graph.nodes
                      if n.name in self.kinds and n.op not in ("placeholder", "output")]
        self.params: dict[str, list[torch.nn.Parameter]] = {}
        run_dir = getattr(trainer, "run_dir", None)
        earlier = read_summary(run_dir) if run_dir is not None else None      # a resumed run
        self.worst = earlier["worst"] if earlier else None
        self.samples = int(earlier.get("samples", 0)) if earlier else 0
        for name, p in model.named_parameters():
            if p.requires_grad:
                self.params.setdefault(name.split(".")[0], []).append(p)

    def _due(self, trainer) -> bool:
        return trainer.step % self.every == 0

    def loss(self, trainer, x, logits, y, loss):
        if self._due(trainer):
            self._batch = (x.detach()[:SIDE_BATCH], y.detach()[:SIDE_BATCH])
        return loss

    def after_backward(self, trainer):
        if not self._due(trainer):
            return
        current = {b: {} for b in self.nodes}
        for block, params in self.params.items():
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                current.setdefault(block, {})["param_grad_norm"] = float(
                    torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
        self._before = {b: [p.detach().clone() for p in ps] for b, ps in self.params.items()}
        if self._batch is not None:
            for block, stats in self._side_pass(trainer, *self._batch).items():
                current.setdefault(block, {}).update(stats)
            self._batch = None
        self._current = current

    def after_step(self, trainer, loss_value):
        if not self._before:
            return
        for block, old in self._before.items():
            new = self.params[block]
            delta = math.sqrt(sum(float((p.detach().float() - o.float()).pow(2).sum()) for p, o in zip(new, old)))
            size = math.sqrt(sum(float(o.float().pow(2).sum()) for o in old))
            # weights that start at zero (a class token) have no ratio yet: a first step is no explosion
            self._current.setdefault(block, {})["update_ratio"] = delta / size if size > 0 else None
        self._before = {}
        step = trainer.step
        rows = [{"step": step, "block": b, **{k: s.get(k) for k in STATS}} for b, s in self._current.items() if s]
        self.rows.extend(rows)
        self._write(trainer.run_dir, rows)
        found = self.diagnose(self._current)
        new = [d for d in found if (d.block, d.code) not in self.problems]
        for d in new:
            self.problems[(d.block, d.code)] = d
        shown = indicators(self, self._current)
        self.worst = worse(self.worst, shown)
        self.samples += 1
        write_summary(trainer.run_dir, {"samples": self.samples, "every": self.every, "last_step": step,
                                        "worst": self.worst, "problems": [_as_dict(d) for d in self.problems.values()]})
        trainer.emit({"type": "health", "step": step, "blocks": {b: dict(s) for b, s in self._current.items()},
                      "problems": [_as_dict(d) for d in found], "new_problems": [_as_dict(d) for d in new],
                      "indicators": shown})
        self._current = {}

    # -- the side pass -----------------------------------------------------------------------------
    def _side_pass(self, trainer, x, y) -> dict:
        model = trainer.model
        buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        stats = {}
        with rng.LOCK, torch.random.fork_rng(devices=devices), torch.enable_grad():   # see graph/rng.py
            rec = Recorder(model, self.nodes)
            out = rec.run(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            loss = trainer._loss(logits, y)
            names = [n for n, v in rec.kept.items() if v.requires_grad]
            grads = torch.autograd.grad(loss, [rec.kept[n] for n in names], allow_unused=True)
            for name in names:
                stats[name] = activation_stats(rec.kept[name])
            for name, g in zip(names, grads):
                stats[name]["grad_rms"] = float(g.float().pow(2).mean().sqrt()) if g is not None else 0.0
        with torch.no_grad():
            for k, v in model.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])
        return stats

    # -- problems ----------------------------------------------------------------------------------
    def diagnose(self, blocks: dict) -> list[Diagnostic]:
        """Problems in one sample of statistics, each on the block that has it, with a plain fix."""
        found = []
        trained = [b for b in self.nodes if b in self.params and blocks.get(b, {}).get("grad_rms") is not None]
        for block in self.nodes:
            s = blocks.get(block, {})
            if self.kinds.get(block) in ACTIVATIONS and s.get("dead_frac", 0) > DEAD_FRACTION:
                owner = self.feeds.get(block, block)
                owner = owner if owner in self.params else block
                found.append(health_problem(owner, f"{s['dead_frac'] * 100:.0f} % of channels are dead after {block}",
                                            "a dead channel is never positive, so it learns nothing; lower the "
                                            "learning rate, check the bias initialisation, or use LeakyReLU",
                                            "health.dead"))
        for block, params in self.params.items():
            s = blocks.get(block, {})
            ratio = s.get("update_ratio")
            norm = s.get("param_grad_norm")
            if (norm is not None and not math.isfinite(norm)) or (ratio is not None and ratio > EXPLODING_UPDATE):
                found.append(health_problem(block, f"update ratio {_fmt_ratio(ratio or float('inf'))}",
                                            "the weights are exploding; lower the learning rate (by 10× or more) "
                                            "or turn on gradient clipping", "health.exploding"))
            elif ratio is not None and ratio > LARGE_UPDATE:
                found.append(health_problem(block, f"update ratio {_fmt_ratio(ratio)}", "the learning rate is too high "
                                            "(healthy runs move about 0.001 of the weights a step); lower it",
                                            "health.large-updates"))
        if len(trained) >= 2:
            last = trained[-1]
            top = blocks[last]["grad_rms"]
            for block in trained[:-1]:
                g = blocks[block]["grad_rms"]
                if top > 0 and 0 < g / top < VANISHING:      # exactly 0 is dead units, said above
                    found.append(health_problem(block, f"its gradient is {_fmt_ratio(g / top)} of {last}'s",
                                                "the gradient vanishes on its way back; add normalisation "
                                                "(BatchNorm) or skip connections, or use ReLU instead of "
                                                "saturating activations", "health.vanishing"))
        return found

    # -- storage -----------------------------------------------------------------------------------
    def _write(self, run_dir, rows) -> None:
        if run_dir is None or not rows:
            return
        path = Path(run_dir) / self.csv_name
        new = not path.exists()
        cut = not new and _ends_mid_line(path)     # a run killed mid-line, resumed: new rows start on their own line
        with open(path, "a", newline="", encoding="utf-8") as f:
            if cut:
                f.write("\n")
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r[k]) for k in FIELDS})


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) != b"\n"


def _as_dict(d: Diagnostic) -> dict:
    parts = {"detail": d.detail, "advice": d.advice} if isinstance(d, HealthProblem) else {}
    return {"block": d.block, "code": d.code, "message": d.message, "text": d.text, **parts}


def read_health(run_dir, csv_name: str = "health.csv") -> dict:
    """A run's health.csv as {"steps": [...], "blocks": [...], stat: {block: [value per step]}, "skipped": [why,
    per line left out], "blanked": n}. A damaged file (cut short by a crash, edited, binary junk) reads as the
    lines that are whole: a line with the wrong number of fields, a step that is not a whole number or a cell
    that is not a number is skipped and said in "skipped"; a value that is not finite (NaN, inf) reads as no
    value (NaN) and is counted in "blanked". A file with more blocks than a graph holds, or more steps than
    MAX_HEALTH_STEPS and MAX_HEALTH_CELLS allow, reads as its first blocks and evenly spaced steps, and "cut"
    says so. skipped_note() words all three. Never raises."""
    out = {"steps": [], "blocks": [], **{k: {} for k in STATS}, "skipped": [], "blanked": 0, "cut": []}
    path = Path(run_dir) / csv_name
    if not path.is_file():
        return out
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        out["skipped"].append(f"the file cannot be read: {os_error_text(exc)}")
        return out
    rows: dict[tuple[int, str], list[float]] = {}      # the last line for a step and block wins, as appended
    known: dict[str, None] = {}                         # the blocks read, in the order they first come
    extra: set[str] = set()                             # blocks beyond MAX_HEALTH_BLOCKS, left out
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or (n == 1 and line.strip() == ",".join(FIELDS)):
            continue
        parsed, why = _health_row(line)
        if why:
            out["skipped"].append(f"line {n}: {why}")
            continue
        step, block, values = parsed
        if block not in known:
            if len(known) >= MAX_HEALTH_BLOCKS:
                extra.add(block)
                continue
            known[block] = None
        out["blanked"] += sum(1 for v in values if v is not None and not math.isfinite(v))
        rows[(step, block)] = [v if v is not None and math.isfinite(v) else math.nan for v in values]
    blocks = list(known)
    steps = sorted({step for step, _ in rows})
    if extra:
        out["cut"].append(f"it names {len(blocks) + len(extra):,} blocks, more than the {MAX_HEALTH_BLOCKS:,} a "
                          f"graph holds: the lines of the {len(extra):,} after the first {MAX_HEALTH_BLOCKS:,} "
                          "were left out")
    room = max(1, min(MAX_HEALTH_STEPS, MAX_HEALTH_CELLS // max(1, len(blocks))))
    if len(steps) > room:
        out["cut"].append(f"it holds {len(steps):,} sampled steps of {len(blocks):,} blocks: {room:,} evenly "
                          "spaced steps, the first and the last among them, are shown")
        steps = _spaced(steps, room)
    at = {s: i for i, s in enumerate(steps)}
    out.update(steps=steps, blocks=blocks)
    for i, k in enumerate(STATS):
        table = {b: [math.nan] * len(steps) for b in blocks}
        for (step, block), values in rows.items():
            if step in at:
                table[block][at[step]] = values[i]
        out[k] = table
    return out


def _spaced(steps: list[int], room: int) -> list[int]:
    """`room` of the sorted `steps`, evenly spaced, the last among them (and the first, when room > 1)."""
    if room == 1:
        return steps[-1:]
    last = len(steps) - 1
    return [steps[round(i * last / (room - 1))] for i in range(room)]


def _health_row(line: str):
    """((step, block, [value or None per stat]), None) for a whole line of health.csv, else (None, why)."""
    try:
        cells = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None, "not a line of comma-separated values"
    if len(cells) != len(FIELDS):
        return None, f"{len(cells)} fields, not {len(FIELDS)}"
    step, block = cells[0].strip(), cells[1].strip()
    if not step.isascii() or not step.isdigit():
        return None, f"the step {shown_text(step, 20)!r} is not a whole number"
    if not block or not block.isprintable():
        return None, f"the block {shown_text(block, 20)!r} is not a block's name"
    values = []
    for name, cell in zip(STATS, cells[2:]):
        if not cell.strip():
            values.append(None)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            return None, f"{name} is {shown_text(cell, 20)!r}, not a number"
    return (int(step), block, values), None


def skipped_note(table: dict, csv_name: str = "health.csv") -> str | None:
    """What read_health left out, in words (None when it read everything)."""
    skipped, blanked = table.get("skipped") or [], int(table.get("blanked") or 0)
    parts = [f"{csv_name} holds more than is shown ({'; '.join(table['cut'])})"] if table.get("cut") else []
    if skipped:
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        parts.append(f"{len(skipped)} damaged line{'s' if len(skipped) != 1 else ''} of {csv_name} "
                     f"{'were' if len(skipped) != 1 else 'was'} skipped ({'; '.join(skipped[:3])}{more})")
    if blanked:
        were, are = ("were", "are") if blanked != 1 else ("was", "is")
        parts.append(f"{blanked} value{'s' if blanked != 1 else ''} of {csv_name} that {were} not a finite number "
                     f"{are} shown blank")
    return "; ".join(parts) or None
