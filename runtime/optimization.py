"""What a run's settings make for the training loop: the optimizer, the learning-rate schedule and the loss, and
a learning rate changed while it trains. The trainer and the single-step view (step_mode.py) share them."""
from __future__ import annotations

import torch
from torch import nn

from layerloom.graph.lazy_torch import import_dynamo

from .config import TrainConfig


def make_optimizer(cfg: TrainConfig, params):
    """The optimizer a run's settings ask for (also used by the single-step view)."""
    import_dynamo()           # its first step imports torch._dynamo: one thread at a time
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def training_loss(kind: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on class scores, or MSE against one-hot targets."""
    if kind == "mse":
        target = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
        return nn.functional.mse_loss(logits, target)
    return nn.functional.cross_entropy(logits, y)


def make_scheduler(cfg: TrainConfig, optimizer, total_steps: int, steps_per_epoch: int):
    """The learning-rate schedule the settings ask for, stepped once per training step; None for a constant rate."""
    if cfg.schedule == "step":
        every = (cfg.step_size or max(1, cfg.epochs // 3)) * steps_per_epoch
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every, gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=max(2, total_steps))
    return None


def change_lr(optimizer, scheduler, new: float) -> float:
    """Set the learning rate to `new` while training: every group and the schedule's own rates are scaled by the
    same factor, so a schedule goes on from the new rate. Returns the rate now in force."""
    current = optimizer.param_groups[0]["lr"]
    factor = new / current if current > 0 else 1.0
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor
        for key in ("initial_lr", "max_lr", "min_lr"):
            if key in group:
                group[key] = group[key] * factor
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [b * factor for b in scheduler.base_lrs]
    return optimizer.param_groups[0]["lr"]
