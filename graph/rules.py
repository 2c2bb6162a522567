"""Rules torch checks only on real tensors (meta kernels let them pass), for the registry's `check`
hooks: each is called with the sample shapes of the inputs and the resolved params and raises
`RuleError` saying what is wrong and what to change.
"""
from __future__ import annotations

import math

from .problems import count
from .problems import fix_auto as _fix_auto


class RuleError(ValueError):
    """A block's input breaks a rule that torch checks only on real tensors."""

    def __init__(self, message: str, code: str = "rule", fix: dict | None = None):
        super().__init__(message)
        self.code, self.fix = code, fix


def same_rank(name: str, shapes) -> None:
    """Inputs of different ranks would broadcast across the batch: refuse them."""
    if len({len(s) for s in shapes}) > 1:
        raise RuleError(f"{name} needs inputs with the same number of dimensions per sample, but receives "
                        + " and ".join("×".join(map(str, s)) or "a scalar" for s in shapes)
                        + ": with different ranks torch would mix the samples of the batch. "
                          "Reshape the inputs to the same rank first.", "merge_shapes")


def layernorm_check(shapes, p) -> None:
    ns = p["normalized_shape"]
    if shapes and isinstance(ns, list) and len(ns) > len(shapes[0]):
        raise RuleError(f"LayerNorm normalises over {count(len(ns), 'dimension')}, but one sample has only "
                        f"{len(shapes[0])}: normalized_shape would reach the batch. Set it to the sample's "
                        "trailing dimensions or to \"auto\".", "features", _fix_auto("normalized_shape"))


def batchnorm_check(shapes, p) -> None:
    if p["track_running_stats"] is False:
        # torch needs more than one value per channel in a batch: one sample has only one when it is C or C×1×1
        single = bool(shapes) and math.prod(shapes[0][1:]) == 1
        raise RuleError("without running statistics (track_running_stats false) BatchNorm normalises with the "
                        "batch's own statistics even in evaluation, so a prediction depends on the other samples "
                        f"of its batch{', and a batch of one fails' if single else ''}. Set track_running_stats "
                        "to true, or use LayerNorm or GroupNorm.", "bad_param",
                        {"action": "reset_param", "param": "track_running_stats"})


BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d")


def one_value_per_channel(kind_name: str, in_shape) -> bool:
    """A BatchNorm whose sample gives it one value per channel (C, C×1 or C×1×1: after a Linear, a global
    pool). In training it normalises each channel over the batch, and torch refuses a batch of one sample
    ("Expected more than 1 value per channel when training"): the run needs batches of two or more."""
    return kind_name in BATCH_NORMS and bool(in_shape) and math.prod(in_shape[1:]) == 1


def _pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def conv_transpose_check(shapes, p) -> None:
    if shapes and isinstance(p["in_channels"], int) and shapes[0] and p["in_channels"] != shapes[0][0]:
        raise RuleError(f"ConvTranspose2d expects {count(p['in_channels'], 'input channel')} but receives "
                        f"{shapes[0][0]}. Set in_channels to {shapes[0][0]} or to \"auto\".", "channels",
                        _fix_auto("in_channels"))
    for op, s, d in zip(_pair(p["output_padding"]), _pair(p["stride"]), _pair(p["dilation"])):
        if op >= max(s, d):
            raise RuleError(f"ConvTranspose2d's output_padding ({op}) must be smaller than its stride ({s}) "
                            f"or its dilation ({d}): lower output_padding.", "bad_param")
