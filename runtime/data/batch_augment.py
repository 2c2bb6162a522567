"""Per-sample random augmentation of a whole batch at once, without a Python loop.

torchvision's v2 transforms draw one set of random parameters per call, so a batch would be
flipped (or rotated, or cropped) as one; looping over its samples costs 1-2 ms per image for
rotation and colour jitter, far more than a small network's training step. These are the same
augmentations with the same parameter ranges as v2's RandomCrop(padding), RandomHorizontalFlip,
RandomRotation (nearest, fill 0) and ColorJitter, drawn per sample and applied with batched
tensor operations. Randomness comes from torch's global generator, as with v2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale uses.
_LUMA = (0.2989, 0.587, 0.114)
# RGB <-> YIQ: a hue shift is a rotation of the (I, Q) plane around the grey axis.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.596, -0.274, -0.322],
                            [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _uniform(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(n, device=like.device, dtype=like.dtype).uniform_(low, high)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by ``padding`` then cut the original size back out at a random offset."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (oy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (ox.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows, cols]


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate sample i about its centre by ``degrees[i]`` (nearest pixel); corners get 0."""
    b, _, h, w = x.shape
    angle = degrees.to(x.dtype) * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cos, -sin * h / w, torch.zeros_like(cos)], 1),
        torch.stack([sin * w / h, cos, torch.zeros_like(cos)], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def random_rotation(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each sample by its own random angle in [-degrees, degrees]."""
    return rotate(x, _uniform(x.shape[0], -degrees, degrees, x))


def color_jitter(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Brightness and contrast (and for RGB saturation and hue) by per-sample random factors."""
    b, c = x.shape[:2]
    low = max(0.0, 1 - strength)
    bright = _uniform(b, low, 1 + strength, x).view(b, 1, 1, 1)
    x = (x * bright).clamp_(0, 1)
    contrast = _uniform(b, low, 1 + strength, x).view(b, 1, 1, 1)
    mean = _gray(x).mean((1, 2, 3), keepdim=True)
    x = (contrast * x + (1 - contrast) * mean).clamp_(0, 1)
    if c == 3:
        saturation = _uniform(b, low, 1 + strength, x).view(b, 1, 1, 1)
        x = (saturation * x + (1 - saturation) * _gray(x)).clamp_(0, 1)
        hue = min(0.5, strength / 4)
        if hue > 0:
            turn = _uniform(b, -hue, hue, x) * (2 * math.pi)
            cos, sin = torch.cos(turn), torch.sin(turn)
            one, zero = torch.ones_like(cos), torch.zeros_like(cos)
            rotate = torch.stack([torch.stack([one, zero, zero], 1),
                                  torch.stack([zero, cos, -sin], 1),
                                  torch.stack([zero, sin, cos], 1)], 1)       # [B, 3, 3]
            to_yiq = _RGB_TO_YIQ.to(x.device, x.dtype)
            to_rgb = _YIQ_TO_RGB.to(x.device, x.dtype)
            matrix = to_rgb @ rotate @ to_yiq                                  # [B, 3, 3]
            x = torch.einsum("bij,bjhw->bihw", matrix, x).clamp_(0, 1)
    return x


class BatchAugment(torch.nn.Module):
    """crop -> flip -> rotation -> colour jitter, each drawn per sample, on [B, C, H, W]."""

    def __init__(self, *, random_crop: int = 0, hflip: bool = False, rotation: float = 0.0,
                 color_jitter: float = 0.0):
        super().__init__()
        self.padding, self.hflip = int(random_crop), bool(hflip)
        self.degrees, self.strength = float(rotation), float(color_jitter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = random_crop(x, self.padding)
        if self.hflip:
            x = random_hflip(x)
        if self.degrees:
            x = random_rotation(x, self.degrees)
        if self.strength:
            x = color_jitter(x, self.strength)
        return x

    def extra_repr(self) -> str:
        return (f"random_crop={self.padding}, hflip={self.hflip}, rotation={self.degrees}, "
                f"color_jitter={self.strength}")
