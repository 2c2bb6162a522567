"""Shrink screenshots for docs/: 256 colours (median cut, no dithering), then PNG's own optimiser.
Window screenshots have few colours, so text and plots look the same at about a third of the bytes.

Run: .venv/bin/python tools/shrink_png.py docs/screenshot-*.png
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image


def shrink(path: Path) -> tuple[int, int]:
    """Rewrite `path` in 256 colours (atomically); its size before and after."""
    before = path.stat().st_size
    image = Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                                      dither=Image.Dither.NONE)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, optimize=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return before, path.stat().st_size


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: shrink_png.py FILE.png ...", file=sys.stderr)
        return 2
    for name in argv:
        before, after = shrink(Path(name))
        print(f"{name}: {before:,} -> {after:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
