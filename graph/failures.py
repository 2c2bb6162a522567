"""What each kind says when torch refuses its input: the `explain` hooks of the block registry.

A hook takes a `Failure` (the kind, its resolved params, its inputs and torch's exception) and
returns a `Diagnostic` in plain words, or None to leave it to the generic explanation in
graph/diagnostics.py (which also words a sample of the wrong rank, from the kind's
`expected_rank`). A kind names its hook where it is registered (graph/blocks.py and the modules
next to it); a kind without one gets the generic explanation.
"""
from __future__ import annotations

import math
from dataclasses import replace

from .problems import FLATTEN_FIX, Diagnostic, Failure, RankError, count, fix_auto, rank_problem, shape_text


def _per_dim(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def _too_small(f: Failure, dims: int, conv: bool) -> Diagnostic | None:
    """A window (kernel) that does not fit the sample, or pool padding over half the window."""
    p = f.params
    if len(f.x) != dims + 1 or p.get("padding") == "same":     # "same" pads so that every kernel fits
        return None
    ks = _per_dim(p["kernel_size"], dims)
    dil = _per_dim(p.get("dilation", 1), dims)
    pad = p.get("padding", 0)
    pads = [0] * dims if isinstance(pad, str) else _per_dim(pad, dims)
    if not conv and any(q > k // 2 for q, k in zip(pads, ks)):
        return Diagnostic("", f"{f.sig} has padding larger than half its kernel_size: use padding at most "
                              f"{min(k // 2 for k in ks)}.", "bad_param")
    need = [max(1, d * (k - 1) + 1 - 2 * q) for k, d, q in zip(ks, dil, pads)]
    if any(s < m for s, m in zip(f.x[1:], need)):
        what = "Remove a pooling block upstream or use a larger input."
        if conv:
            what = "Use a smaller kernel_size, add padding, remove a pooling block upstream or use a larger input."
        return Diagnostic("", f"{f.sig} needs an input of at least {shape_text(need)}, but receives {f.xt}. {what}",
                          "too_small")
    return None


def _first_dim(f: Failure, param: str, noun: str) -> Diagnostic | None:
    """A count param (in_channels, num_features) that disagrees with the sample's first dimension."""
    x = f.x
    if not isinstance(f.exc, RankError) and x and f.params[param] != x[0]:
        return Diagnostic("", f"{f.kind.name} expects {count(f.params[param], noun)} but receives {x[0]} "
                              f"(input {f.xt}). Set {param} to {x[0]} or to \"auto\".", "channels",
                          fix=fix_auto(param))
    return None


def _channels(f: Failure) -> Diagnostic | None:
    return _first_dim(f, "in_channels", "input channel")


_PADDING_MODES = {"reflect": ("mirrors", 1), "circular": ("wraps around", 0)}   # (what it does, values beyond)


def _padding_mode(f: Failure, dims: int) -> Diagnostic | None:
    """padding_mode "reflect" mirrors the input's edge values, so it needs more values on each side than it
    pads; "circular" wraps the other end around, so it needs at least as many."""
    mode = f.params.get("padding_mode", "zeros")
    if mode not in _PADDING_MODES or len(f.x) != dims + 1:
        return None
    pad = f.params.get("padding", 0)
    if pad == "same":        # torch pads the total d·(k-1) as its half before and the rest (the larger) after
        ks, dil = _per_dim(f.params["kernel_size"], dims), _per_dim(f.params.get("dilation", 1), dims)
        sides = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(ks, dil)]
    else:
        sides = [(q, q) for q in ([0] * dims if isinstance(pad, str) else _per_dim(pad, dims))]
    does, beyond = _PADDING_MODES[mode]
    axes = ("length",) if dims == 1 else ("height", "width")
    for (before, q), size, axis in zip(sides, f.x[1:], axes):
        if q + beyond > size:
            most = size - beyond
            pads = (f"pads {count(q, 'value')} on each side" if before == q else
                    f"pads {count(before, 'value')} before and {count(q, 'value')} after")
            return Diagnostic("", f'{f.sig} {pads} with padding_mode="{mode}", which {does} '
                                  f"the input's own values, but its input {f.xt} has {size} along its {axis}: set "
                                  + (f"padding to at most {most}, " if most >= 0 and pad != "same" else "")
                                  + 'padding_mode to "zeros" or "replicate", or give it a larger input.', "too_small")
    return None


def convolution(dims: int):
    """Conv1d / Conv2d: a kernel larger than the sample, padding that mirrors or wraps past the sample, then
    the channel count."""
    def explain(f: Failure) -> Diagnostic | None:
        return _too_small(f, dims, conv=True) or _padding_mode(f, dims) or _channels(f)
    return explain


def pooling(dims: int):
    """MaxPool / AvgPool: padding over half the window, or a window larger than the sample."""
    def explain(f: Failure) -> Diagnostic | None:
        return _too_small(f, dims, conv=False)
    return explain


def transposed_convolution(f: Failure) -> Diagnostic | None:
    """Padding that takes away more than the kernel adds (an empty or negative result), then the channels."""
    if len(f.x) != 3:
        return _channels(f)
    p = f.params
    ks, st, pad, outpad, dil = (_per_dim(p[name], 2) for name in
                                ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    size = [(x - 1) * s - 2 * q + d * (k - 1) + o + 1 for x, s, q, d, k, o in zip(f.x[1:], st, pad, dil, ks, outpad)]
    if all(n >= 1 for n in size):
        return _channels(f)
    most = [(n + 2 * q - 1) // 2 for n, q in zip(size, pad)]          # the padding that leaves one value
    return Diagnostic("", f"{f.sig} would give an empty result ({shape_text(size).replace('-', '−')}) from its input "
                          f"{f.xt}: its padding takes away more than the kernel and stride add. Set padding to at "
                          f"most {most[0] if most[0] == most[1] else most}, or give it a larger input.", "too_small")


def _either(words: list) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _rank_among(f: Failure, forms: dict, hint: str) -> Diagnostic | None:
    """A sample whose rank is none of `forms` ({rank: form}): said in Layerloom's shape words, not torch's
    batch-counted ones ("expected 2D or 3D input (got 4D input)")."""
    n = len(f.x)
    if n in forms:
        return None
    ranks = sorted(forms)
    names = [forms[r] for r in ranks]
    listed = _either(names)
    per = _either([f"{r}-D" for r in ranks]) if len(ranks) < 3 else f"{ranks[0]}-D to {ranks[-1]}-D"
    if n < ranks[0]:
        hint = "Insert a Reshape before it to give each sample one of those shapes"
    return Diagnostic("", f"{f.kind.name} needs a {listed} input ({per} per sample) but receives {f.xt} "
                          f"({n}-D). {hint}.", "rank")


def batch_norm(f: Failure) -> Diagnostic | None:
    if f.kind.expected_rank is None:    # BatchNorm1d: C or C×L
        found = _rank_among(f, {1: "C", 2: "C×L"}, "Use BatchNorm2d for a C×H×W image, or insert a Flatten "
                                                   "before it")
        if found is not None:
            return found
    return _first_dim(f, "num_features", "feature")


UPSAMPLE_FORMS = {2: "C×L", 3: "C×H×W", 4: "C×D×H×W"}
UPSAMPLE_MODE_RANK = {"linear": 2, "bilinear": 3, "bicubic": 3, "trilinear": 4}


def upsample(f: Failure) -> Diagnostic | None:
    """A sample Upsample cannot enlarge, or a mode made for another rank ("linear" is for C×L, "bilinear" and
    "bicubic" for C×H×W, "trilinear" for C×D×H×W)."""
    found = _rank_among(f, UPSAMPLE_FORMS, "Insert a Flatten or Reshape before it to drop the extra dimensions")
    if found is not None:
        return found
    n, mode = len(f.x), f.params["mode"]
    need = UPSAMPLE_MODE_RANK.get(mode)
    if need is not None and need != n:
        fits = ['"nearest"'] + [f'"{m}"' for m, r in UPSAMPLE_MODE_RANK.items() if r == n]
        return Diagnostic("", f'Upsample(mode="{mode}") needs a {UPSAMPLE_FORMS[need]} input ({need}-D per '
                              f"sample) but receives {f.xt} ({n}-D). Set mode to {_either(fits)}.", "bad_param")
    return None


def group_norm(f: Failure) -> Diagnostic | None:
    """num_channels that disagrees with the sample's first dimension (its channels; with num_groups that does
    not divide them, both to change), or groups of a single value: nothing to normalise."""
    g, x = f.params["num_groups"], f.x
    found = _first_dim(f, "num_channels", "channel")
    if found is not None and x[0] % g:
        found = replace(found, message=found.message[:-1] + f", and num_groups to a number that divides {x[0]} "
                                                            f"(it is {g}).")
    if found is not None:
        return found
    if x and x[0] % g == 0 and x[0] // g * math.prod(x[1:]) == 1:
        what = "lower num_groups, or" if g > 1 else "remove the GroupNorm, or"
        return Diagnostic("", f"GroupNorm(num_groups={g}) would normalise groups of one value each (input {f.xt}), "
                              f"and one value has no spread to normalise: {what} give it a larger input.", "too_small")
    return None


def linear(f: Failure) -> Diagnostic | None:
    x, want = f.x, f.params["in_features"]
    if not x or want == x[-1]:
        return None
    total = math.prod(x)
    if len(x) > 1 and want == total:
        return Diagnostic("", f"Linear expects {count(total, 'feature')} but receives a {f.xt} tensor; it acts on the "
                              f"last dimension only. Insert a Flatten before it.", "needs_flatten",
                          fix=dict(FLATTEN_FIX))
    return Diagnostic("", f"Linear(in_features={want}) receives {count(x[-1], 'feature')} (input {f.xt}). "
                          f"Set in_features to {x[-1]} or to \"auto\".", "features", fix=fix_auto("in_features"))


def recurrent(f: Failure) -> Diagnostic | None:
    x = f.x
    if isinstance(f.exc, RankError):
        if len(x) == 1:
            return rank_problem(f, "Insert a Reshape (e.g. to [T, 1]) or an Embedding before it")
        return None
    if x and f.params["input_size"] != x[-1]:
        return Diagnostic("", f"{f.kind.name}(input_size={f.params['input_size']}) receives "
                              f"{count(x[-1], 'feature')} per step (input {f.xt}). Set input_size to {x[-1]} or to "
                              "\"auto\".",
                          "features", fix=fix_auto("input_size"))
    return None


def layer_norm(f: Failure) -> Diagnostic | None:
    ns, x = f.params["normalized_shape"], f.x
    if isinstance(ns, list) and list(x[-len(ns):]) != ns:
        return Diagnostic("", f"LayerNorm normalises over {shape_text(ns)} but the input ends in "
                              f"{shape_text(x[-len(ns):])} (input {f.xt}). Set normalized_shape to "
                              f"{list(x[-len(ns):])} or to \"auto\".", "features", fix=fix_auto("normalized_shape"))
    return None


def embedding(f: Failure) -> Diagnostic | None:
    if f.dtypes and f.dtypes[0].startswith("float"):
        return Diagnostic("", f"Embedding needs integer token ids but receives {f.dtypes[0]} values: "
                              "set the Input's dtype to int64.", "dtype")
    n, pad = f.params["num_embeddings"], f.params.get("padding_idx")
    if pad is not None and not -n <= pad < n:
        return Diagnostic("", f"Embedding(padding_idx={pad}) names a token outside its table of {count(n, 'token')} "
                              f"(ids 0 to {n - 1}): set padding_idx to one of those ids, or leave it empty.",
                          "bad_param", fix={"action": "reset_param", "param": "padding_idx"})
    return None


def add(f: Failure) -> Diagnostic | None:
    if len(set(f.shapes)) > 1:
        return Diagnostic("", f"Add needs inputs of the same shape but receives "
                              f"{' and '.join(shape_text(s) for s in f.shapes)}. Change the blocks feeding it so "
                              "their outputs match (e.g. a 1×1 Conv2d on the skip path).", "merge_shapes")
    return None


def mul(f: Failure) -> Diagnostic | None:
    shapes = f.shapes
    if len({len(s) for s in shapes}) == 1 and any(len({d for d in dims if d != 1}) > 1 for dims in zip(*shapes)):
        return Diagnostic("", f"Mul needs inputs whose dimensions match or are 1 (C×1×1 against C×H×W), but receives "
                              f"{' and '.join(shape_text(s) for s in shapes)}: change the blocks feeding it so that "
                              "each dimension matches or is 1.", "merge_shapes")
    return None


def concat(f: Failure) -> Diagnostic:
    shapes, dim = f.shapes, f.params["dim"]
    differ = [i + 1 for i in range(len(shapes[0])) if len({s[i] for s in shapes}) > 1]
    what = ("change the blocks feeding it so that only the dimension it joins along differs"
            + (f", or set dim to {differ[0]} (where they differ)" if len(differ) == 1 else ""))
    return Diagnostic("", f"Concat joins along dim {dim}; all other dimensions must match, but it receives "
                          f"{' and '.join(shape_text(s) for s in shapes)}: {what}.", "merge_shapes")


def reshape(f: Failure) -> Diagnostic:
    total, shape = math.prod(f.x), f.params["shape"]
    known = math.prod(v for v in shape if v != -1)
    if -1 in shape:
        held, what = f"a multiple of {known} values", f"set the other sizes to ones whose product divides {total}"
    else:
        held = count(known, "value")
        what = f"set shape to sizes whose product is {total}, or put -1 in place of one size to have it computed"
    return Diagnostic("", f"Reshape cannot turn {f.xt} ({count(total, 'value')}) into {list(shape)} ({held}): {what}.",
                      "reshape")


def permute(f: Failure) -> Diagnostic:
    n = len(f.x)
    what = (f"set dims to an order of {', '.join(map(str, range(n)))}" if n > 1
            else "remove the Permute (a sample with fewer than 2 dimensions has nothing to reorder)")
    return Diagnostic("", f"Permute dims {f.params['dims']} must list each of the input's {count(n, 'dimension')} "
                          f"exactly once (input {f.xt}): {what}.", "bad_param")
