"""The fast path to a GPU: channels-last convolutions, pinned host memory, non-blocking copies.

On CUDA, a network with 2-d convolutions runs in channels-last memory format (NHWC), which
tensor-core convolution kernels prefer, with cuDNN's autotuner on (training batches keep their
shape); host batches are pinned before their asynchronous copy. Mixed precision is the `amp`
setting (the trainer's autocast + GradScaler). On the CPU and other devices nothing changes:
the same model and the same tensors come back.
"""
from __future__ import annotations

import torch
from torch import nn


def wants_channels_last(model: nn.Module, device: torch.device) -> bool:
    return device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_model(model: nn.Module, device: torch.device) -> tuple[nn.Module, bool]:
    """The model on `device`, channels-last where that helps; returns (model, channels_last)."""
    model = model.to(device)
    channels_last = wants_channels_last(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model, channels_last


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool = False):
    """A batch on `device`: pinned and copied without blocking when it goes host -> CUDA."""
    if device.type == "cuda":
        if x.device.type == "cpu":
            x = x.pin_memory()
        if y.device.type == "cpu":
            y = y.pin_memory()
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y
