"""An exported project's image folder: copied into data/ when small, read as Layerloom reads it.

The generated `image_folder_data.py` is made of Layerloom's own reader, taken from its source: the split
folders (train/ with val/, valid/, validation/ or test/, or train/ alone), the class folders, the files
that count (no hidden or linked folders inside a class, no macOS ._ files), each picture read upright by
its EXIF orientation with 16- and 32-bit grey levels scaled to 8 bits, the conversion and resize, and the
seeded stratified split. It imports neither Layerloom nor anything but numpy, torch, torchvision and
Pillow, so the project trains on the same classes, files and pixels. Only what that reader reads is
copied; folders whose copy would be over `COPY_LIMIT` bytes stay where they are: the project's train.py
then needs `--data PATH`.
"""
from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path

from layerloom.graph import quoting

from ..data import base, folder_layout, image_folder, image_read
from ..data.base import DataError
from ..data.options import fraction_option

COPY_LIMIT = 200 * 1024 * 1024
DATA_DIR = "data/images"      # inside the project


def copy_images(root, project: Path) -> bool:
    """Copy what Layerloom reads of the image folder into the project, when the folder exists, can be read
    and that is at most COPY_LIMIT bytes."""
    root = Path(root) if root else None
    if root is None or not root.is_dir():
        return False
    try:
        layout = folder_layout.split_folders(root)
        if sum(p.stat().st_size for p in _copied_files(root, layout)) > COPY_LIMIT:
            return False
    except (DataError, OSError):        # Layerloom could not read it either: train.py names the problem
        return False
    shutil.copytree(root, project / DATA_DIR, copy_function=shutil.copyfile,
                    ignore=lambda folder, names: sorted(set(names) - set(_read(root, layout, Path(folder), names))))
    return True


def _read(root: Path, layout: folder_layout.Layout, folder: Path, names: list[str]) -> list[str]:
    """Those of `names` in `folder` that Layerloom's reader reads or enters: train/ and the validation
    folder (test/ beside val/ is not used); in them, the visible class folders, linked ones too; in a class
    folder, regular files (linked ones too) with an image's extension except macOS ._ files, and the
    folders that are neither hidden nor linked (image_files does not enter those)."""
    parents = {layout.train} | ({layout.val} if layout.val is not None else set())
    if folder in parents:               # no file here is read; a linked class folder is (copied as a folder)
        return [n for n in names if not n.startswith(".") and (folder / n).is_dir()]
    if folder == root:
        return [n for n in names if folder / n in parents]
    extensions = folder_layout.image_extensions()

    def read(name: str) -> bool:
        path = folder / name
        if path.is_dir():
            return not name.startswith(".") and not path.is_symlink()
        return name.lower().endswith(extensions) and not name.startswith(folder_layout.RESOURCE_FORK) \
            and path.is_file()
    return [n for n in names if read(n)]


def _copied_files(root: Path, layout: folder_layout.Layout):
    """The files copy_images copies (it follows linked class folders, as the reader does)."""
    def unreadable(error):
        raise error

    for folder, folders, files in os.walk(root, followlinks=True, onerror=unreadable):
        kept = set(_read(root, layout, Path(folder), folders + files))
        folders[:] = [f for f in folders if f in kept]
        yield from (Path(folder, f) for f in files if f in kept)


# Layerloom's reader, in an order in which each name is defined before a module-level use of it.
_CONSTANTS = (("SHOWN_LIMIT", quoting), ("HOW", folder_layout), ("TRAIN_NAMES", folder_layout),
              ("VAL_NAMES", folder_layout), ("TEST_NAMES", folder_layout), ("RESOURCE_FORK", folder_layout),
              ("ORIENTATION", image_read), ("SIXTEEN_BIT", image_read), ("UNCONVERTIBLE", image_read))
_SOURCES = (base.DataError, quoting.shown, image_read.quoted,
            image_read._too_large, image_read._not_convertible, image_read._unreadable, image_read.refuse_bomb_warnings,
            image_read._check_pixels, image_read._reading, image_read._orientation, image_read.read_image,
            image_read._from_32_bits, image_read.ToSample,
            folder_layout.Layout, folder_layout.unreadable_folder, folder_layout.subfolders, folder_layout._is_dir,
            folder_layout.split_folders, folder_layout.class_folders, folder_layout.image_files,
            folder_layout.image_extensions,
            image_folder.label_as_int64, image_folder._image_folder_class, image_folder._make, image_folder.validation_folder,
            image_folder._stratified_split)
# Names image_folder.py imports under another name (`_q` for quoted), bound as it binds them.
_ALIASES = (("_q", image_folder._q), ("_image_extensions", image_folder._image_extensions))

_LOADER = '''

def load(root, shape, val_fraction, seed):
    """(x_train, y_train, x_val, y_val, classes), as Layerloom loads the folder `root` for samples of
    `shape` (channels, height, width): its validation folder when it has one (val/, valid/, validation/,
    or test/ beside train/ alone), else a seeded stratified draw of `val_fraction` of each class."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The image folder {quoted(root)} does not exist or is not a folder: {HOW}.")
    layout = split_folders(root)
    train_dir, val_dir = layout.train, layout.val
    classes = tuple(class_folders(train_dir))
    train = _make(train_dir, classes, shape, allow_empty=False)
    if val_dir is not None:
        val = validation_folder(train_dir, val_dir, classes, shape)
        return (*_tensors(train, range(len(train))), *_tensors(val, range(len(val))), list(classes))
    train_idx, val_idx = _stratified_split(train.targets, val_fraction, seed)
    return (*_tensors(train, train_idx), *_tensors(train, val_idx), list(classes))


def _tensors(folder, indices):
    pairs = [folder[i] for i in indices]
    return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
'''


def module_source() -> str:
    """image_folder_data.py: Layerloom's reader (layout, files, pictures, conversion, split), plus a loader
    into tensors. Constants are written as literals (repr); functions and classes are Layerloom's own source."""
    parts = ['"""Your image folder, read as Layerloom read it: same classes, files, conversion, resize and split."""',
             "from __future__ import annotations", "", "import os", "import warnings", "",
             "from contextlib import contextmanager", "from dataclasses import dataclass", "from pathlib import Path",
             "", "import numpy as np", "import torch", ""]
    parts += [f"{name} = {getattr(module, name)!r}" for name, module in _CONSTANTS]
    for obj in _SOURCES:
        parts += ["", "", inspect.getsource(obj).rstrip()]
    parts += ["", ""]
    parts += [f"{alias} = {function.__name__}" for alias, function in _ALIASES]
    return "\n".join(parts) + "\n" + _LOADER


def loader_code(copied: bool, options: dict) -> str:
    """The body of train.py's load_data(data) for an image folder."""
    default = f"HERE / {DATA_DIR!r}" if copied else "None"
    val_fraction = fraction_option(options, "val_fraction", 0.2)      # as Layerloom reads it
    return f'''
import image_folder_data
root = Path(data) if data else {default}
if root is None:
    raise SystemExit("the images were not copied into this project (over 200 MB, or unreadable when it was "
                     "exported): give their folder with --data PATH")
try:
    x_tr, y_tr, x_va, y_va, classes = image_folder_data.load(root, INPUT_SHAPE, {val_fraction!r}, CONFIG["seed"])
except image_folder_data.DataError as exc:
    raise SystemExit(str(exc)) from None
if classes != CLASS_NAMES[:len(classes)]:
    raise SystemExit(f"{{root}} has the class folders {{classes}}, but the model's classes are {{CLASS_NAMES}}: "
                     "give --data a folder with one subfolder for each of the model's classes")
return x_tr, y_tr, x_va, y_va
'''
