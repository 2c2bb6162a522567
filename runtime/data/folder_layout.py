"""How an image folder is laid out: its split folders, its class folders and the image files in them.

    my_pictures/ cats/ dogs/              one folder per class; a seeded draw sets val_fraction aside
    my_pictures/ train/ val/              each with the same class folders (val/ may be valid/ or
                                          validation/; test/ beside them is not used)
    my_pictures/ train/ test/             no validation folder: test/ validates, and the description says so
    my_pictures/ train/                   val_fraction of train/ is set aside

Split names are told apart from class names case-insensitively; split folders beside class folders
(cats/ dogs/ test/) are refused, since one of the two readings would be silently wrong. Inside a class
folder, hidden folders (.ipynb_checkpoints, .git: copies, not more pictures) are not entered, symlinked
folders are not followed (a loop would never end), only regular files count (a FIFO would block), and
macOS resource forks (._name.png, written beside each picture on some disks; never images) are skipped
and counted. A folder that cannot be read is named, never skipped in silence.
"""
from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

from .base import DataError
from .image_read import image_size, quoted

HOW = ("pick a folder that holds one subfolder per class (for example cats/ and dogs/) "
       "with the images inside")
TRAIN_NAMES = ("train",)
VAL_NAMES = ("val", "valid", "validation")
TEST_NAMES = ("test",)
RESOURCE_FORK = "._"            # macOS AppleDouble files: metadata beside a file, named like it
SAMPLE_IMAGES = 64              # pictures whose headers give the folder's size, spread over the classes


@dataclass(frozen=True)
class Layout:
    train: Path                 # the folder whose subfolders are the classes
    val: Path | None            # the validation folder, or None for a seeded draw from `train`
    notes: tuple[str, ...] = ()


def unreadable_folder(exc: OSError) -> DataError:
    """The message for a folder os.walk or a listing could not read."""
    where = quoted(exc.filename if exc.filename is not None else exc)
    why = "permission denied" if isinstance(exc, PermissionError) else quoted(exc.strerror or exc)
    return DataError(f"The folder {where} cannot be read ({why}): make it readable or move it out of the image "
                     "folder.")


def subfolders(folder: Path) -> list[str]:
    """The names of `folder`'s visible subfolders (linked ones too), sorted."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if not e.name.startswith(".") and _is_dir(e))
    except OSError as exc:
        raise unreadable_folder(exc) from None


def _is_dir(entry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def split_folders(folder: Path) -> Layout:
    """Where the training and validation images are, with notes on what was chosen."""
    names = subfolders(folder)
    kinds = {n: n.lower() for n in names if n.lower() in TRAIN_NAMES + VAL_NAMES + TEST_NAMES}
    if not kinds:
        return Layout(folder, None)
    listed = ", ".join(f"{quoted(n)}/" for n in kinds)
    others = [n for n in names if n not in kinds]
    if others:
        shown_others = ", ".join(f"{quoted(n)}/" for n in others[:5]) + (", ..." if len(others) > 5 else "")
        raise DataError(f"The folder {quoted(folder)} holds split folders ({listed}) beside class folders "
                        f"({shown_others}): put every class folder inside train/ and val/ (train/cats/, val/cats/), "
                        f"or move {listed} out, or rename {'it' if len(kinds) == 1 else 'them'} if a class is called "
                        "so.")
    train, val, test = ([n for n in kinds if kinds[n] in kind] for kind in (TRAIN_NAMES, VAL_NAMES, TEST_NAMES))
    for same in (train, val, test):
        if len(same) > 1:
            both = " and ".join(f"{quoted(n)}/" for n in same)
            raise DataError(f"The folder {quoted(folder)} has {both} for the same split: keep one of them and move "
                            "the others out.")
    if not train:
        raise DataError(f"The folder {quoted(folder)} has {listed} but no train/ folder: put the training images "
                        "in train/, one subfolder per class (train/cats/, train/dogs/).")
    t = quoted(train[0])
    if val:
        unused = [f"{quoted(n)}/ is not used: the run trains on {t}/ and validates on {quoted(val[0])}/." for n in test]
        return Layout(folder / train[0], folder / val[0], tuple(unused))
    if test:
        return Layout(folder / train[0], folder / test[0],
                      (f"There is no val/ folder, so {quoted(test[0])}/ is used as the validation split.",))
    return Layout(folder / train[0], None,
                  (f"There is no val/ folder, so val_fraction of the images in {t}/ is set aside for validation.",))


def class_folders(folder: Path) -> list[str]:
    classes = subfolders(folder)
    if not classes:
        raise DataError(f"The folder {quoted(folder)} has no class subfolders: {HOW}.")
    if len(classes) < 2:
        raise DataError(
            f"The folder {quoted(folder)} has only one class subfolder ({quoted(classes[0])}/): a classifier "
            "needs at least two, so add a subfolder of images for each other class."
        )
    return classes


def image_files(directory, class_to_idx: dict, extensions: tuple[str, ...], allow_empty: bool = False,
                skipped: list | None = None):
    """(path, class index) of every image under each class folder, as torchvision lists them, except
    that symlinked and hidden folders are not entered (a link loop would never end; .ipynb_checkpoints
    holds copies), only regular files count (a FIFO named like an image would block the reader), and
    macOS resource forks (._name) are left out (appended to `skipped` when given). A folder that cannot
    be read raises the OSError os.walk met. Self-contained: an exported project holds its source."""
    def unreadable(error):
        raise error

    instances, empty = [], []
    for target_class in sorted(class_to_idx):
        top = os.path.join(directory, target_class)
        if not os.path.isdir(top):          # a validation folder may lack a class
            empty.append(target_class)
            continue
        walked = []
        for root, folders, names in os.walk(top, onerror=unreadable):
            folders[:] = [f for f in folders if not f.startswith(".")]
            walked.append((root, names))
        found = False
        for root, names in sorted(walked):
            for name in sorted(names):
                path = os.path.join(root, name)
                if not (name.lower().endswith(extensions) and os.path.isfile(path)):
                    continue
                if name.startswith("._"):
                    if skipped is not None:
                        skipped.append(path)
                    continue
                instances.append((path, class_to_idx[target_class]))
                found = True
        if not found:
            empty.append(target_class)
    if empty and not allow_empty:
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(empty)}. "
                                f"Supported extensions are: {', '.join(extensions)}")
    return instances


def image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS
    return IMG_EXTENSIONS


def _pictures(class_dir: Path, extensions: tuple[str, ...]):
    """The image files of one class folder in a fixed order (each folder's files sorted, then its
    subfolders'), found as image_files finds them, and lazily: a sample reads no more folders than it needs."""
    def unreadable(error):
        raise error

    for root, folders, names in os.walk(class_dir, onerror=unreadable):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(names):
            path = os.path.join(root, name)
            if name.lower().endswith(extensions) and not name.startswith(RESOURCE_FORK) and os.path.isfile(path):
                yield Path(path)


def sample_files(folder: Path, classes: list[str], limit: int = SAMPLE_IMAGES) -> list[Path]:
    """Up to `limit` image files spread over the classes: the first few of each (of `limit` classes
    spread evenly when there are more). The same folder always gives the same files."""
    n = len(classes)
    picked = classes if n <= limit else [classes[i * n // limit] for i in range(limit)]
    each = max(1, limit // len(picked))
    files = []
    try:
        for cls in picked:
            for i, path in enumerate(_pictures(folder / cls, image_extensions())):
                if i == each:
                    break
                files.append(path)
    except OSError as exc:
        raise unreadable_folder(exc) from None
    if not files:
        raise DataError(f"The class subfolders of {quoted(folder)} hold no images ({', '.join(image_extensions())}): "
                        "put the pictures of each class in its subfolder.")
    return files


def sampled_sizes(folder: Path, classes: list[str]) -> tuple[list[tuple[int, int]], list[Path]]:
    """((height, width) of each sampled picture, its file) from headers only. The first picture must open (a
    folder whose first file is no picture, or too large, is refused as it is described); any other that does
    not is left out of the sizes here and named when it is read."""
    sizes, paths = [], []
    for i, path in enumerate(sample_files(folder, classes)):
        try:
            sizes.append(image_size(path))
        except DataError:
            if i == 0:
                raise
            continue
        paths.append(path)
    return sizes, paths


def size_note(sizes: list[tuple[int, int]], paths: list[Path], root: Path, chosen: tuple[int, int],
              given: bool) -> str:
    """A sentence for pictures of different sizes (empty when they agree): the range, the smallest file,
    and what happens to them."""
    if len(set(sizes)) < 2:
        return ""
    smallest = min(range(len(sizes)), key=lambda i: (sizes[i][0] * sizes[i][1], str(paths[i])))
    small, large = sizes[smallest], max(sizes, key=lambda s: (s[0] * s[1], s))
    try:
        name = paths[smallest].relative_to(root)
    except ValueError:
        name = paths[smallest]
    what = (f"each is resized to {chosen[0]}×{chosen[1]} (the size setting)" if given else
            f"each is resized to {chosen[0]}×{chosen[1]}, so that none is enlarged; the size data setting "
            "chooses another size")
    return (f"The images differ in size (of the {len(sizes)} read to judge it, from {small[0]}×{small[1]}, "
            f"{quoted(name)}, to {large[0]}×{large[1]}): {what}.")
