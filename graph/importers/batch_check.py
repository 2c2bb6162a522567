"""Whether a traced model's shapes follow the batch size, as a graph's blocks do.

torch.fx traces on a batch of 2, so a size written into the model that happens to be 2 looks like
the batch: `x.reshape(x.size(1), x.size(0), -1)` on 2×3 samples reads as a Reshape to (2, 3) there,
while on a batch of 4 the model mixes samples and the block would not. Running the traced graph
again on a batch of 3 shows each tensor's shape there; every one a block gives must be the same
shape with 3 in front, or the import is refused at the first call that differs.
"""
from __future__ import annotations

import logging

import torch

from ..quoting import shown
from .report import ImportFailure

OTHER_BATCH = 3


def check_batch_follows(gm, builder, input_shape, dtype, recorder_class) -> None:
    """Raise ImportFailure where a block's result would not follow the batch size (see above)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from .fx_import import _innermost, _op_text
    example = (torch.randn(OTHER_BATCH, *input_shape) if dtype.is_floating_point
               else torch.zeros(OTHER_BATCH, *input_shape, dtype=dtype))
    recorder = recorder_class(gm)
    quiet = logging.getLogger("torch._subclasses.fake_tensor")     # it logs each failed op's traceback
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            recorder.run(example)
    except Exception:
        recorder = recorder_class(gm)
        try:
            with torch.no_grad():
                recorder.run(example)
        except Exception as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise ImportFailure(
                f"the model runs on a batch of 2 but not on a batch of {OTHER_BATCH} ({type(exc).__name__}: "
                f"{shown(first, 200)}); a graph runs on any batch size, so write the batch size as x.size(0) "
                "or -1 where the model fixes it (view(2, -1))") from None
    finally:
        quiet.setLevel(level)
    for node in gm.graph.nodes:
        if node not in builder.out_of or node.op in ("placeholder", "output"):
            continue
        seen, there = builder.info.get(node), recorder.info.get(node)
        if not seen or seen[0] != "tensor":
            continue
        want = (OTHER_BATCH, *seen[1][1:])
        if there is None or there[0] != "tensor" or tuple(there[1]) != want:
            got = list(there[1]) if there and there[0] == "tensor" else "no tensor"
            where = _innermost(node)
            raise ImportFailure(
                f"{shown(_op_text(node), 80)}{' in ' + shown(where, 80) if where else ''} gives {list(seen[1])} "
                f"on a batch of 2 but {got} on a batch of {OTHER_BATCH}, not {list(want)}: it reads a size "
                "that is not the batch as the batch (a fixed 2, or x.size(1)), so as a block it would compute "
                "something else; write the batch dimension as x.size(0) or -1")
