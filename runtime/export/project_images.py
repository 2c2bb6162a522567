"""An exported project's image folder: copied into data/ when small, read as Layerloom reads it.

The generated `image_folder_data.py` holds Layerloom's own sample conversion (channels, resize) and
seeded stratified split, so the project trains on the same classes, split and pixels. Folders over
`COPY_LIMIT` bytes stay where they are: the project's train.py then needs `--data PATH`.
"""
from __future__ import annotations

import inspect
import shutil
from pathlib import Path

from ..data import image_folder
from ..data.options import fraction_option

COPY_LIMIT = 200 * 1024 * 1024
DATA_DIR = "data/images"      # inside the project


def folder_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def copy_images(root, project: Path) -> bool:
    """Copy the image folder into the project when it exists and is at most COPY_LIMIT bytes."""
    root = Path(root) if root else None
    if root is None or not root.is_dir() or folder_size(root) > COPY_LIMIT:
        return False
    shutil.copytree(root, project / DATA_DIR, copy_function=shutil.copyfile, ignore=lambda f, n: _not_read(root, f, n))
    return True


def _not_read(root: Path, folder: str, names: list[str]) -> list[str]:
    """What Layerloom's reader skips: anything but a regular file with an image's extension, and a linked
    folder inside a class folder (image_files does not enter it). A linked class folder, or a linked train/
    or val/, is read (copied as a folder)."""
    extensions = image_folder._image_extensions()
    depth = len(Path(folder).relative_to(root).parts)        # 0: the root; 1: a class folder, or train/ or val/
    splits = depth == 1 and Path(folder).name in ("train", "val") and (root / "train").is_dir() \
        and (root / "val").is_dir()

    def read(path: Path) -> bool:
        if path.is_dir():
            return not path.is_symlink() or depth == 0 or splits
        return path.name.lower().endswith(extensions) and path.is_file()
    return [n for n in names if not read(Path(folder, n))]


_LOADER = '''

def class_folders(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))


def load(root, shape, val_fraction, seed):
    """(x_train, y_train, x_val, y_val, classes): train/ and val/ when both exist, else a seeded
    stratified split of the one folder."""
    root = Path(root)
    train_dir, val_dir = (root / "train", root / "val") if (root / "train").is_dir() and (root / "val").is_dir() \\
        else (root, None)
    classes = class_folders(train_dir)

    class Folder(ImageFolder):
        def find_classes(self, directory):
            return classes, {c: i for i, c in enumerate(classes)}

        @staticmethod
        def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
            return image_files(directory, class_to_idx, tuple(extensions or IMG_EXTENSIONS), allow_empty)

    to_sample = ToSample(shape[0], tuple(shape[1:]))
    train = Folder(str(train_dir), transform=to_sample)

    def tensors(ds, indices):
        return torch.stack([ds[i][0] for i in indices]), torch.tensor([ds.targets[i] for i in indices])

    if val_dir is not None:
        val = Folder(str(val_dir), transform=to_sample, allow_empty=True)
        return (*tensors(train, range(len(train))), *tensors(val, range(len(val))), classes)
    train_idx, val_idx = _stratified_split(train.targets, val_fraction, seed)
    return (*tensors(train, train_idx), *tensors(train, val_idx), classes)
'''


def module_source() -> str:
    """image_folder_data.py: Layerloom's conversion and split, plus a loader into tensors."""
    parts = ['"""Your image folder, read as Layerloom read it: same classes, files, conversion, resize and split."""',
             "import os", "from pathlib import Path", "", "import numpy as np", "import torch",
             "from torchvision.datasets import ImageFolder", "from torchvision.datasets.folder import IMG_EXTENSIONS",
             "", "", "class DataError(Exception):", "    pass", ""]
    for obj in (image_folder.ToSample, image_folder.image_files, image_folder._stratified_split):
        parts += ["", inspect.getsource(obj).rstrip(), ""]
    return "\n".join(parts) + _LOADER


def loader_code(copied: bool, options: dict) -> str:
    """The body of train.py's load_data(data) for an image folder."""
    default = f"HERE / {DATA_DIR!r}" if copied else "None"
    val_fraction = fraction_option(options, "val_fraction", 0.2)      # as Layerloom reads it
    return f'''
import image_folder_data
root = Path(data) if data else {default}
if root is None:
    raise SystemExit("the images were not copied into this project (over 200 MB): give their folder with --data PATH")
x_tr, y_tr, x_va, y_va, classes = image_folder_data.load(root, INPUT_SHAPE, {val_fraction!r}, CONFIG["seed"])
if classes != CLASS_NAMES[:len(classes)]:
    raise SystemExit(f"{{root}} has the class folders {{classes}}, but the model's classes are {{CLASS_NAMES}}: "
                     "give --data a folder with one subfolder for each of the model's classes")
return x_tr, y_tr, x_va, y_va
'''
