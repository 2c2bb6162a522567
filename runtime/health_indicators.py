"""Training health at a glance: four indicators (gradient, dead units, update ratio, NaN/Inf), each
green, amber or red, with the block that is worst and a sentence that explains it in plain words.

`indicators(collector, blocks)` turns one sample of HealthCollector statistics into the indicators;
red means the collector also diagnosed a problem on that block (the thresholds below), amber that
the value is on its way there. A run keeps the worst of each over its whole life in `health.json`
beside `health.csv`, so the Runs tab can compare runs without re-reading every sample.

The collector's problems are `HealthProblem`s, each "detail: advice" on its block; `grouped_texts` says
the same problem on several blocks once, with each block's figure (the CLI's warnings, the panel's note).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from layerloom.graph.fileformat import atomic_write_text
from layerloom.graph.problems import Diagnostic

FIELDS = ("step", "block", "act_mean", "act_std", "frac_nonpos", "dead_frac", "grad_rms", "param_grad_norm",
          "update_ratio")
STATS = FIELDS[2:]
ACTIVATIONS = {"ReLU", "ReLU6"}
DEAD_FRACTION = 0.5        # dead channels above this share of a block's channels are a problem
VANISHING = 1e-5           # gradient RMS this far below the last trained block's: vanishing
LARGE_UPDATE = 0.2         # update ratios above this mean the learning rate is high (healthy: 1e-3 to 0.1)
EXPLODING_UPDATE = 1.0     # a step that moves the weights by more than their own size

LEVELS = ("ok", "warn", "bad")
SUMMARY_NAME = "health.json"

DEAD_WARN = 0.2              # a fifth of the channels never fire: not yet a problem, worth watching
UPDATE_WARN = 0.05           # healthy steps move about 0.001 of the weights
FLOW_WARN = 1e-3             # the first trained block gets a thousandth of the last one's gradient

EXPLAIN = {
    "gradient": ("Gradient",
                 "‖∂loss/∂w‖, how hard the loss pulls on each block's weights. Green: the gradient reaches "
                 "every block. Amber: the first blocks get under 1/1000 of the last block's gradient, so they "
                 f"learn slowly. Red: under {VANISHING:g} of it (vanishing), or not a number."),
    "dead": ("Dead units",
             "The share of channels after a ReLU that were never positive on the sampled batch. A dead unit "
             "passes no gradient back and stops learning. Green: under 20 %; amber: 20–50 %; red: over half."),
    "update": ("Update ratio",
               "‖Δw‖/‖w‖, how far one optimizer step moves a block's weights compared with their size. Healthy "
               f"runs sit near 0.001. Amber: over {UPDATE_WARN:g}; red: over {LARGE_UPDATE:g} (the learning "
               "rate is too high); over 1 the weights explode."),
    "nonfinite": ("NaN/Inf",
                  "Whether any activation, gradient or update stopped being a finite number. Red means the run "
                  "has diverged: lower the learning rate or turn on gradient clipping."),
}
KEYS = tuple(EXPLAIN)


def _indicator(key: str, level: str, value: str, block: str | None = None, note: str = "") -> dict:
    title, explain = EXPLAIN[key]
    return {"key": key, "title": title, "level": level, "value": value, "block": block, "note": note,
            "explain": explain}


def _finite(v) -> bool:
    return v is None or math.isfinite(v)


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.0e}"


def indicators(collector, blocks: dict) -> list[dict]:
    """The four indicators of one sample; `collector` gives the graph's facts (nodes, kinds, feeds, params)
    and `blocks` the sample, {block: {stat: value}} as in a `health` event."""
    nodes, params = collector.nodes, collector.params
    out = []
    # gradient: the largest norm shown; the level from how much of it reaches the first blocks
    norms = {b: s["param_grad_norm"] for b, s in blocks.items() if s.get("param_grad_norm") is not None}
    flow = [(b, blocks[b]["grad_rms"]) for b in nodes if b in params and blocks.get(b, {}).get("grad_rms") is not None]
    bad_norm = next((b for b, v in norms.items() if not math.isfinite(v)), None)
    if bad_norm:
        out.append(_indicator("gradient", "bad", "not finite", bad_norm, f"{bad_norm}: the gradient is not a number"))
    elif norms:
        level, block, note = "ok", max(norms, key=norms.get), ""
        top = flow[-1][1] if flow else 0.0
        weakest = min(((b, g / top) for b, g in flow[:-1] if g > 0), key=lambda t: t[1], default=None) if top > 0 \
            else None
        if weakest is not None and weakest[1] < FLOW_WARN:
            level = "bad" if weakest[1] < VANISHING else "warn"
            block = weakest[0]
            note = f"{block}: gets {_fmt(weakest[1])} of {flow[-1][0]}'s gradient"
        out.append(_indicator("gradient", level, _fmt(max(norms.values())), block, note))
    else:
        out.append(_indicator("gradient", "ok", "–"))
    # dead units: after activation blocks, named on the block that feeds them (as the diagnostic is)
    dead = {}
    for b in nodes:
        frac = blocks.get(b, {}).get("dead_frac")
        if collector.kinds.get(b) in ACTIVATIONS and frac is not None:
            owner = collector.feeds.get(b, b)
            dead[owner if owner in params else b] = frac
    if dead:
        block = max(dead, key=dead.get)
        frac = dead[block]
        level = "bad" if frac > DEAD_FRACTION else "warn" if frac > DEAD_WARN else "ok"
        out.append(_indicator("dead", level, f"{frac * 100:.0f} %", block,
                              f"{block}: {frac * 100:.0f} % of its channels never fire" if level != "ok" else ""))
    else:
        out.append(_indicator("dead", "ok", "–"))
    # update ratio: the largest
    ratios = {b: s["update_ratio"] for b, s in blocks.items() if s.get("update_ratio") is not None}
    if ratios:
        block = max(ratios, key=lambda b: ratios[b] if math.isfinite(ratios[b]) else math.inf)
        r = ratios[block]
        level = "bad" if not math.isfinite(r) or r > LARGE_UPDATE else "warn" if r > UPDATE_WARN else "ok"
        out.append(_indicator("update", level, _fmt(r), block,
                              f"{block}: one step moves {_fmt(r)} of its weights" if level != "ok" else ""))
    else:
        out.append(_indicator("update", "ok", "–"))
    # NaN/Inf anywhere
    broken = next((b for b in blocks if not all(_finite(blocks[b].get(k)) for k in STATS)), None)
    if broken:
        bad = [k for k in STATS if not _finite(blocks[broken].get(k))]
        out.append(_indicator("nonfinite", "bad", broken, broken, f"{broken}: {', '.join(bad)} not finite"))
    else:
        out.append(_indicator("nonfinite", "ok", "none"))
    return out


def worse(old: list[dict] | None, new: list[dict]) -> list[dict]:
    """Per indicator, the worse of two (the newer on a tie): a run's worst over its life."""
    if not old:
        return list(new)
    by_key = {i["key"]: i for i in old}
    return [n if LEVELS.index(n["level"]) >= LEVELS.index(by_key.get(n["key"], n)["level"]) else by_key[n["key"]]
            for n in new]


def write_summary(run_dir, summary: dict) -> None:
    if run_dir is not None:
        atomic_write_text(Path(run_dir) / SUMMARY_NAME, json.dumps(summary, indent=1, allow_nan=False) + "\n")


def read_summary(run_dir) -> dict | None:
    """A run's health.json ({"samples", "every", "worst": [indicator...], "problems": [...]}), or None
    when the run recorded no health or the file is not one."""
    path = Path(run_dir) / SUMMARY_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):     # RecursionError: nested deeper than Python's parser goes
        return None
    if not isinstance(data, dict) or not isinstance(data.get("worst"), list):
        return None
    # an edited or damaged file keeps only its well-formed parts: the Runs tab and a resumed run read them as such
    data["worst"] = [i for i in data["worst"] if isinstance(i, dict) and i.get("level") in LEVELS
                     and all(isinstance(i.get(k), str) for k in ("key", "title", "value"))]
    problems = data.get("problems")
    data["problems"] = [p for p in problems if isinstance(p, dict) and isinstance(p.get("text"), str)] \
        if isinstance(problems, list) else []
    for key in ("samples", "every", "last_step"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            del data[key]
    return data


def level_of(summary: dict | None) -> str | None:
    """The worst level of a run's health summary (None: no health recorded)."""
    if not summary:
        return None
    levels = [i.get("level") for i in summary["worst"] if i.get("level") in LEVELS]
    return max(levels, key=LEVELS.index) if levels else None


@dataclass(frozen=True)
class HealthProblem(Diagnostic):
    """A health Diagnostic whose message is "detail: advice": what this block shows, and what to do, which
    is the same for every block with the same problem."""
    detail: str = ""
    advice: str = ""


def health_problem(block: str, detail: str, advice: str, code: str) -> HealthProblem:
    return HealthProblem(block, f"{detail}: {advice}", code, "warning", detail=detail, advice=advice)


def grouped_texts(problems: list[dict]) -> list[str]:
    """One sentence per kind of problem (as in a `health` event's lists): a diverging run has the same
    problem, with the same advice, on every block, which then reads once, with each block's figure
    ("conv1 (update ratio 0.42), fc1 (update ratio 0.24) and fc3 (update ratio 0.95): the learning rate
    is too high …"). A problem alone, or one from an older run's events without its parts, reads as
    its own text."""
    groups: dict = {}
    for p in problems:
        key = (p["code"], p["advice"]) if p.get("advice") and p.get("block") else id(p)
        groups.setdefault(key, []).append(p)
    texts = []
    for group in groups.values():
        if len(group) == 1:
            texts.append(group[0]["text"])
        else:
            named = [f"{p['block']} ({p['detail']})" for p in group]
            texts.append(f"{', '.join(named[:-1])} and {named[-1]}: {group[0]['advice']}")
    return texts
