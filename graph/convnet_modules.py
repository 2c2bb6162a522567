"""The torch modules of the ConvNeXt block kinds (graph/blocks_convnets.py): LayerNorm over the channels of
each pixel, and a learned scale per channel. Generated code carries these classes inline (compiler.py), so
an exported project needs only torch; their weights are `<block id>.weight` (and `.bias`) like a norm's."""
from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of every pixel: N×C×H×W normalised over C (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """Multiplies each channel by a learned factor: N×C×H×W times C×1×1 (ConvNeXt's layer scale)."""

    def __init__(self, num_channels: int, init_value: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_channels, 1, 1), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x
