"""Colour maps and pictures for explanations and filters, as numpy RGB arrays and PNG files (no Qt).

    rgb = colorize(values, signed=True)                 # H×W -> H×W×3 uint8, blue-white-red around 0
    save_png_atomic(image, "out.png")                   # temp file + rename: never half-written
    explanation_png(raw, explanation, "out.png", ...)   # the sample, the overlay, the top-5
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from layerloom.graph.fileformat import atomic_write_bytes

# anchors (position, r, g, b): a perceptually ordered dark-to-bright map and a diverging one
_SEQUENTIAL = [(0.0, 0, 0, 4), (0.25, 87, 16, 110), (0.5, 188, 55, 84), (0.75, 249, 142, 9), (1.0, 252, 255, 164)]
_DIVERGING = [(0.0, 33, 102, 172), (0.25, 103, 169, 207), (0.5, 247, 247, 247), (0.75, 239, 138, 98),
              (1.0, 178, 24, 43)]


def _lookup(t: np.ndarray, anchors) -> np.ndarray:
    pos = np.array([a[0] for a in anchors])
    out = np.stack([np.interp(t, pos, [a[k] for a in anchors]) for k in (1, 2, 3)], axis=-1)
    return out.round().clip(0, 255).astype(np.uint8)


def symmetric_scale(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] with 0 at 0.5 (symmetric around zero)."""
    v = np.asarray(values, dtype=np.float64)
    m = float(np.abs(v).max()) if v.size else 0.0
    return 0.5 + 0.5 * v / m if m > 0 else np.full_like(v, 0.5)


def colorize(values: np.ndarray, signed: bool) -> np.ndarray:
    """A 2-D map as RGB: diverging around 0 when `signed`, else dark (low) to bright (high)."""
    v = np.asarray(values, dtype=np.float64)
    if signed:
        return _lookup(symmetric_scale(v), _DIVERGING)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    return _lookup(t, _SEQUENTIAL)


def to_display(raw: np.ndarray) -> np.ndarray:
    """A C×H×W sample in [0, 1] as H×W×3 uint8 (grey when one channel)."""
    a = np.asarray(raw, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a
        a = a.transpose(1, 2, 0)
    else:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        a = np.repeat(a.reshape(a.shape[0], -1)[..., None], 3, axis=-1) if a.ndim >= 1 else a
    return (a.clip(0, 1) * 255).round().astype(np.uint8)


def _resize(values: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(np.asarray(values, dtype=np.float32)).resize((size, size), Image.BILINEAR))


def overlay_rgb(background: np.ndarray, values: np.ndarray, signed: bool) -> np.ndarray:
    """The colour map of `values` laid over an H×W×3 picture, opaque where the values are strong."""
    v = np.asarray(values, dtype=np.float64)
    if signed:
        strength = np.abs(symmetric_scale(v) - 0.5) * 2
    else:
        lo, hi = float(v.min()), float(v.max())
        strength = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    alpha = (0.85 * np.sqrt(strength))[..., None]
    heat = colorize(v, signed).astype(np.float64)
    dim = background.astype(np.float64) * 0.6
    return (dim * (1 - alpha) + heat * alpha).round().clip(0, 255).astype(np.uint8)


def save_png_atomic(image, path) -> Path:
    """Save a PIL image (or H×W×3 uint8 array) as PNG via a temp file in the same folder and a rename."""
    from PIL import Image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:       # Pillow < 10.1
        return ImageFont.load_default()


def _cut(text, room: int) -> str:
    """`text` in at most `room` characters, a cut one ending in … (so a shortened name does not pass for another)."""
    text = str(text)
    return text if len(text) <= room else text[:room - 1] + "…"


def distinct_cuts(names, room: int) -> list[str]:
    """Each name in at most `room` characters, shortened names still told apart: a long name keeps its
    start and its end around a "…" ("golden r…puppy"), and names that would still read alike show the
    part where they differ ("…ver (young)…")."""
    names = [str(n) for n in names]
    head = (room - 1) // 2
    middle = [n if len(n) <= room else n[:head] + "…" + n[len(n) - (room - 1 - head):] for n in names]
    shown = list(middle)
    for i, n in enumerate(names):
        alike = [m for j, m in enumerate(names) if m != n and middle[j] == middle[i]]
        if not alike:
            continue
        differs = max(len(os.path.commonprefix([n, m])) for m in alike)    # where n parts from all of them
        start = max(0, min(differs - (room - 2) // 2, len(n) - (room - 1)))
        end = min(len(n), start + room - (1 if start == 0 else 2))
        shown[i] = ("…" if start else "") + n[start:end] + ("…" if end < len(n) else "")
    return shown


def _top5(draw, prediction, x0, y0, width, label_name, font):
    draw.text((x0, y0), "Top-5 prediction" + ("  (green: the true class)" if label_name is not None else ""),
              fill=(20, 20, 20), font=font)
    y = y0 + 26
    cuts = distinct_cuts([p["name"] for p in prediction[:5]], 12)
    for p, cut in zip(prediction[:5], cuts):
        true = label_name is not None and p["name"] == label_name
        draw.text((x0, y), cut, fill=(0, 110, 40) if true else (20, 20, 20), font=font)
        bar = int((width - 170) * p["probability"])
        draw.rectangle([x0 + 100, y + 3, x0 + 100 + max(bar, 1), y + 15],
                       fill=(60, 160, 90) if true else (70, 130, 180))
        draw.text((x0 + 106 + bar, y), f"{p['probability'] * 100:.1f}%", fill=(60, 60, 60), font=font)
        y += 24


def explanation_png(raw, explanation, path, class_names=None, label: int | None = None, tokens=None,
                    title: str = "", size: int = 224) -> Path:
    """The sample (or its tokens), its attribution overlaid, and the top-5 prediction, as one PNG."""
    return save_png_atomic(explanation_image(raw, explanation, class_names, label, tokens, title, size), path)


def explanation_image(raw, explanation, class_names=None, label: int | None = None, tokens=None,
                      title: str = "", size: int = 224):
    """The picture `explanation_png` writes, as a PIL image (the app shows the same one)."""
    from PIL import Image, ImageDraw
    e = explanation
    names = list(class_names or [])
    label_name = (names[label] if label is not None and label < len(names) else
                  (str(label) if label is not None else None))
    signed = e.method in ("integrated-gradients", "occlusion")
    font = _font(14)
    head = title or f"{e.method}" + (f" on {e.block}" if e.block and e.kind == "image" else "")
    target_name = names[e.target] if e.target < len(names) else str(e.target)
    sub = f"explaining class {target_name}" + (f" · true class {label_name}" if label_name is not None else "")
    if e.completeness_gap is not None:
        sub += f" · completeness gap {e.completeness_gap * 100:.2f}%"
    if e.kind == "image":
        sample = Image.fromarray(to_display(raw)).resize((size, size), Image.NEAREST)
        overlay = Image.fromarray(overlay_rgb(np.asarray(sample.convert("L").convert("RGB")),
                                              _resize(e.attribution, size), signed))
        width = 3 * size + 4 * 16 + 140
        img = Image.new("RGB", (width, size + 70), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        draw.text((16, 8), head, fill=(0, 0, 0), font=_font(16))
        draw.text((16, 30), sub, fill=(70, 70, 70), font=font)
        img.paste(sample, (16, 56))
        img.paste(overlay, (32 + size, 56))
        _top5(draw, e.prediction, 48 + 2 * size, 56, size + 140, label_name, font)
        return img
    # a bar per token / time step
    values = np.asarray(e.attribution, dtype=np.float64).reshape(-1)
    words = list(tokens) if tokens is not None else [str(i) for i in range(len(values))]
    row, top = 20, 56
    chart_w = 360
    height = max(top + row * len(values) + 16, top + 170)
    img = Image.new("RGB", (16 + 120 + chart_w + 40 + size + 140, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((16, 8), head + (f" through {e.block}" if e.block else ""), fill=(0, 0, 0), font=_font(16))
    draw.text((16, 30), sub, fill=(70, 70, 70), font=font)
    scale = float(np.abs(values).max()) or 1.0
    mid = 16 + 120 + chart_w // 2
    colors = colorize(values.reshape(1, -1), signed=True)[0]
    for i, (v, w) in enumerate(zip(values, words)):
        y = top + i * row
        draw.text((16, y), _cut(w, 14), fill=(20, 20, 20), font=font)
        length = int(v / scale * (chart_w // 2 - 4))
        x0, x1 = sorted((mid, mid + length))
        draw.rectangle([x0, y + 3, max(x1, x0 + 1), y + row - 5], fill=tuple(int(c) for c in colors[i]))
    draw.line([mid, top, mid, top + row * len(values)], fill=(150, 150, 150))
    _top5(draw, e.prediction, 16 + 120 + chart_w + 40, top, size + 140, label_name, font)
    return img


def health_strip_image(table: dict, stat: str, cell: tuple[int, int] = (10, 18)):
    """A blocks × steps heat strip of one health statistic (log10 scale), rows labelled by block."""
    from PIL import Image, ImageDraw
    blocks, steps = table["blocks"], table["steps"]
    values = np.array([table[stat][b] for b in blocks], dtype=np.float64).reshape(len(blocks), len(steps))
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log10(np.abs(values)), np.nan)
    known = np.isfinite(logs)
    filled = np.where(known, logs, np.nanmin(logs) if known.any() else 0.0)
    rgb = colorize(filled, signed=False)
    rgb[~known] = (235, 235, 235)                 # no value (a block without weights, or never positive)
    cw = max(2, min(4 * cell[0], 600 // max(1, len(steps))))
    ch = cell[1]
    font = _font(12)
    left, top = 90, 22
    img = Image.new("RGB", (max(left + cw * len(steps) + 12, 400), top + ch * len(blocks) + 24), (255, 255, 255))
    img.paste(Image.fromarray(rgb.repeat(ch, axis=0).repeat(cw, axis=1)), (left, top))
    draw = ImageDraw.Draw(img)
    lo, hi = (float(np.nanmin(logs)), float(np.nanmax(logs))) if known.any() else (0.0, 0.0)
    draw.text((4, 4), f"{stat}, log10: dark 10^{lo:.1f} … bright 10^{hi:.1f}", fill=(40, 40, 40), font=font)
    for i, b in enumerate(blocks):
        draw.text((4, top + i * ch + 2), _cut(b, 12), fill=(20, 20, 20), font=font)
    y = top + ch * len(blocks) + 4
    draw.text((left, y), f"step {steps[0]}" if steps else "", fill=(70, 70, 70), font=font)
    if len(steps) > 1:
        text = f"step {steps[-1]}"
        width = draw.textlength(text, font=font)
        draw.text((left + cw * len(steps) - width, y), text, fill=(70, 70, 70), font=font)
    return img
