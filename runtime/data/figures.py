"""Figures: twelve more geometric figures, none of them a class of the `shapes` set, drawn in its style.

The same generator as `shapes` (random position, size, rotation and colour on a noisy, shaded
background; half dark-on-light) with other figures: trapezoid, chevron, bar, four- and eight-point
stars, arrow, L, T, two dots, heart, frame and diamond. Drawn on a grid, none covers the same
pixels as a `shapes` class at any rotation (intersection over union below 0.8, tested). A network
trained to tell these apart learns edges, corners and curvature without ever seeing a `shapes`
image or label, so they are a source to pretrain on before fine-tuning on `shapes`
(bench/finetune.py does that through a weights file). It is a registered data set too, `figures`,
with the options of `shapes`: in the app, train on it, then start a `shapes` run from that run's
weights (Initialise Weights From…).
"""
from __future__ import annotations

import math

import torch

from .base import DataBundle, DatasetInfo
from .shapes import DEFAULT_TRAIN, DEFAULT_VAL, generate, generated_info, load_generated, resolve_geometry

NAME = "figures"
NAMES = ("trapezoid", "chevron", "bar", "star4", "star8", "arrow", "ell", "tee", "dots", "heart", "frame",
         "diamond")
# Measured on 20,000 generated images of 32×32 (64×64 and one channel give the same to 0.003).
MEAN, STD = 0.502, 0.338


def _polar(u, v):
    return torch.sqrt(u * u + v * v), torch.atan2(v, u)


def _trapezoid(u, v):     # 1.8 wide at the bottom, 1.0 at the top
    return (v.abs() <= 0.55) & (u.abs() <= 0.5 + 0.4 * (v + 0.55) / 1.1)


def _chevron(u, v):       # a thick V
    return ((v - 0.9 * u.abs()).abs() <= 0.28) & (u.abs() <= 0.9)


def _bar(u, v):
    return (u.abs() <= 0.95) & (v.abs() <= 0.32)


def _star(u, v, points: int, inner: float):
    """A star whose tips touch the unit circle and whose notches lie at radius `inner`."""
    rho, phi = _polar(u, v)
    sector = 2 * math.pi / points
    a = torch.remainder(phi, sector)
    a = torch.minimum(a, sector - a)                 # fold into [0, sector/2]: the tip at 0
    px, py = rho * torch.cos(a), rho * torch.sin(a)
    nx, ny = inner * math.cos(sector / 2), inner * math.sin(sector / 2)
    # inside: on the centre's side of the edge from the tip (1, 0) to the notch (nx, ny)
    return (nx - 1.0) * py - ny * (px - 1.0) >= 0.0


def _star4(u, v):
    return _star(u, v, 4, 0.35)


def _star8(u, v):
    return _star(u, v, 8, 0.62)


def _arrow(u, v):
    shaft = (v.abs() <= 0.22) & (u >= -0.95) & (u <= 0.15)
    head = (u > 0.15) & (v.abs() <= (0.95 - u) * 1.0)
    return shaft | head


def _ell(u, v):
    upright = (u >= -0.8) & (u <= -0.35) & (v.abs() <= 0.9)
    foot = (u >= -0.8) & (u <= 0.8) & (v >= 0.45) & (v <= 0.9)
    return upright | foot


def _tee(u, v):
    top = (u.abs() <= 0.9) & (v >= -0.9) & (v <= -0.45)
    stem = (u.abs() <= 0.22) & (v.abs() <= 0.9)
    return top | stem


def _dots(u, v):          # two discs side by side
    return ((u - 0.5) ** 2 + v * v <= 0.16) | ((u + 0.5) ** 2 + v * v <= 0.16)


def _heart(u, v):        # (x² + y² - 1)³ - x² y³ <= 0, scaled into the unit disc
    x, y = u / 0.8, -v / 0.8 + 0.15
    return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0


def _frame(u, v):        # a square with a square hole
    edge = torch.maximum(u.abs(), v.abs())
    return (edge <= 0.75) & (edge >= 0.45)


def _diamond(u, v):      # a rhombus twice as long as it is wide
    return u.abs() / 0.95 + v.abs() / 0.5 <= 1.0


MASKS = (_trapezoid, _chevron, _bar, _star4, _star8, _arrow, _ell, _tee, _dots, _heart, _frame, _diamond)
assert len(MASKS) == len(NAMES)


def generate_figures(count: int, *, channels: int = 3, size=32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images of the twelve figures (uint8 [N, C, H, W]) and labels (int64 [N], index into NAMES)."""
    return generate(count, channels=channels, size=size, seed=seed, figures=MASKS)


def info(*, input_shape=None, size=None, channels=None, train_count=DEFAULT_TRAIN,
         val_count=DEFAULT_VAL, **_ignored) -> DatasetInfo:
    return generated_info(NAME, "Figures", NAMES, "Coloured figures, none of them a class of shapes",
                          resolve_geometry(input_shape, size, channels, what=NAME), train_count, val_count,
                          MEAN, STD)


def load(info: DatasetInfo, *, seed: int = 0, train_count=DEFAULT_TRAIN,
         val_count=DEFAULT_VAL, **_ignored) -> DataBundle:
    return load_generated(info, generate_figures, seed, train_count, val_count)
