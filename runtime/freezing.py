"""Frozen blocks: a block whose `trainable` switch is off keeps its weights through training.

The trainer extension turns off `requires_grad` for the block's parameters (the optimizer only
receives trainable ones) and keeps its normalisation layers in evaluation mode, so running
statistics stay as they were too: a frozen block's tensors are bit-identical after training. The
exported train.py does the same from its FROZEN list.
"""
from __future__ import annotations

from torch import nn

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


def frozen_blocks(doc) -> list[str]:
    return [bid for bid, b in doc.blocks.items() if not b.trainable]


def _keep_eval(module, args):
    module.eval()


def freeze(model: nn.Module, block_ids) -> int:
    """Freeze the modules named by block ids; returns how many parameters were frozen."""
    count = 0
    for bid in block_ids:
        module = getattr(model, bid, None)
        if not isinstance(module, nn.Module):
            continue
        for p in module.parameters():
            p.requires_grad_(False)
            count += p.numel()
        for sub in module.modules():
            if isinstance(sub, _NORMS):
                sub.register_forward_pre_hook(_keep_eval)
    return count


class Freezing:
    """Trainer extension: freeze the blocks whose trainable switch is off."""

    def setup(self, trainer) -> None:
        blocks = frozen_blocks(trainer.doc)
        if not blocks:
            return
        count = freeze(trainer.model, blocks)
        trainer.emit({"type": "frozen", "blocks": blocks, "params": count})
