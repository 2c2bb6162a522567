"""The classic image sets torchvision knows how to fetch: MNIST, Fashion-MNIST, KMNIST, CIFAR.

Each lives in ``<data root>/<name>/`` in torchvision's own layout. Files are looked for first;
a download is only tried when they are missing and downloading is allowed, after a quick check
that the server answers at all (so an offline machine fails in seconds, not minutes). When the
files are missing and cannot be fetched, the DataError names the files and the folder to put
them in. The official test set serves as the validation split.

MNIST-family files are read by torchvision (IDX format, plain numbers). CIFAR batches are
pickles, so they are read by ``cifar_format`` which refuses anything but arrays.
"""

from __future__ import annotations

import gzip
import socket
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit

import torch

from .base import DataBundle, DataError, DatasetInfo, InMemorySplit
from .cifar_format import read_split

UNPACK_BYTES = 512 * 2**20   # one unpacked file (the largest, CIFAR-100's training batch, is 155 MB)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum
rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider
squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train
trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Spec:
    """How one torchvision set is described, stored and fetched."""

    name: str
    title: str
    description: str
    tv_class: str                  # torchvision.datasets class name; also its folder name for IDX
    kind: str                      # "idx" or "cifar"
    sample_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    home_page: str
    # CIFAR only: the extracted folder, its batch files, the archive and the label key.
    base_folder: str = ""
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    archive: str = ""
    label_key: str = "labels"


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("mnist", "MNIST (70,000 digits, download)",
         "Handwritten digits 0-9 by LeCun, Cortes and Burges: 60,000 training and 10,000 test "
         "images, 28×28 grayscale. Downloaded once (about 12 MB).",
         "MNIST", "idx", (1, 28, 28), tuple("0123456789"), (0.1307,), (0.3081,),
         "https://yann.lecun.com/exdb/mnist/"),
    Spec("fashion-mnist", "Fashion-MNIST (70,000 clothing images, download)",
         "Zalando's clothing pictures in 10 classes, a harder drop-in for MNIST: 60,000 "
         "training and 10,000 test images, 28×28 grayscale. Downloaded once (about 30 MB).",
         "FashionMNIST", "idx", (1, 28, 28),
         ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
         (0.2860,), (0.3530,), "https://github.com/zalandoresearch/fashion-mnist"),
    Spec("kmnist", "Kuzushiji-MNIST (70,000 cursive characters, download)",
         "Ten classical Japanese cursive characters: 60,000 training and 10,000 test images, "
         "28×28 grayscale. Downloaded once (about 20 MB).",
         "KMNIST", "idx", (1, 28, 28),
         ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
         (0.1918,), (0.3483,), "https://github.com/rois-codh/kmnist"),
    Spec("cifar10", "CIFAR-10 (60,000 colour photos, download)",
         "Small colour photos of 10 kinds of objects and animals by Krizhevsky, Nair and "
         "Hinton: 50,000 training and 10,000 test images, 32×32 RGB. Downloaded once (163 MB).",
         "CIFAR10", "cifar", (3, 32, 32), CIFAR10_CLASSES,
         (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
         "https://www.cs.toronto.edu/~kriz/cifar.html",
         base_folder="cifar-10-batches-py",
         train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
         test_files=("test_batch",), archive="cifar-10-python.tar.gz"),
    Spec("cifar100", "CIFAR-100 (60,000 colour photos, 100 classes, download)",
         "Small colour photos in 100 fine classes by Krizhevsky, Nair and Hinton: 50,000 "
         "training and 10,000 test images, 32×32 RGB. Downloaded once (161 MB).",
         "CIFAR100", "cifar", (3, 32, 32), CIFAR100_CLASSES,
         (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
         "https://www.cs.toronto.edu/~kriz/cifar.html",
         base_folder="cifar-100-python", train_files=("train",), test_files=("test",),
         archive="cifar-100-python.tar.gz", label_key="fine_labels"),
)}


def info_for(name: str):
    """An info factory for the registry (options are accepted and ignored)."""
    spec = SPECS[name]

    def info(**_options) -> DatasetInfo:
        return DatasetInfo(
            name=spec.name, title=spec.title, description=spec.description,
            sample_shape=spec.sample_shape, input_dtype="float32",
            num_classes=len(spec.class_names), class_names=spec.class_names,
            mean=spec.mean, std=spec.std, needs_download=True,
        )
    return info


def load(info: DatasetInfo, *, root: Path, download: bool = True, **_ignored) -> DataBundle:
    spec = SPECS[info.name]
    folder = Path(root) / spec.name
    if spec.kind == "idx":
        x_tr, y_tr, x_va, y_va = _load_idx(spec, folder, download)
    else:
        x_tr, y_tr, x_va, y_va = _load_cifar(spec, folder, download)
    return DataBundle(info=info, train=InMemorySplit(x_tr, y_tr), val=InMemorySplit(x_va, y_va))


# -- MNIST family ---------------------------------------------------------------------------

def _tv_class(spec: Spec):
    import torchvision.datasets as tvd
    return getattr(tvd, spec.tv_class)


def idx_raw_folder(spec: Spec, folder: Path) -> Path:
    return folder / spec.tv_class / "raw"


def _idx_present(raw: Path) -> bool:
    """True when all four IDX files are there, unpacking ``.gz`` copies that stand alone."""
    for name in IDX_FILES:
        target, packed = raw / name, raw / f"{name}.gz"
        if target.is_file():
            continue
        if not packed.is_file():
            return False
        try:
            with gzip.open(packed, "rb") as src:
                _unpack(src, target, packed)
        except (OSError, EOFError) as exc:
            raise DataError(
                f"{packed} is damaged ({exc}): delete it and download or copy it again."
            ) from exc
    return True


def _unpack(src, target: Path, archive: Path) -> None:
    """Copy an unpacking stream to `target` (through a .part file), refusing more than UNPACK_BYTES:
    a small archive can unpack to any size (a gzip of zeros shrinks a thousand times)."""
    part = target.with_suffix(".part")
    total = 0
    try:
        with open(part, "wb") as dst:
            while chunk := src.read(2**20):
                total += len(chunk)
                if total > UNPACK_BYTES:
                    raise DataError(f"{archive} unpacks {target.name} to more than {UNPACK_BYTES // 2**20} MB, "
                                    "far more than the real file: delete it and download or copy it again.")
                dst.write(chunk)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


def _load_idx(spec: Spec, folder: Path, download: bool):
    raw = idx_raw_folder(spec, folder)
    if not _idx_present(raw):
        cls = _tv_class(spec)
        if not download:
            raise _missing_error(spec, folder, "downloading is switched off")
        problem = _unreachable([m + IDX_FILES[0] + ".gz" for m in cls.mirrors])
        if problem is None:
            try:
                cls(str(folder), train=True, download=True)
            except (URLError, OSError, RuntimeError, EOFError) as exc:
                problem = f"the download failed: {_first_line(exc)}"
        if problem is not None or not _idx_present(raw):
            raise _missing_error(spec, folder, problem or "the download left files missing")
    cls = _tv_class(spec)
    try:
        train, test = cls(str(folder), train=True), cls(str(folder), train=False)
    except (RuntimeError, OSError, ValueError, AssertionError) as exc:
        raise DataError(
            f"The {spec.name} files in {raw} cannot be read ({_first_line(exc)}): delete them "
            "and download or copy them again."
        ) from exc
    return (train.data.unsqueeze(1).contiguous(), train.targets.to(torch.int64),
            test.data.unsqueeze(1).contiguous(), test.targets.to(torch.int64))


# -- CIFAR ----------------------------------------------------------------------------------

def _cifar_present(spec: Spec, folder: Path) -> bool:
    """True when the batch files are there, extracting the archive if only it is present."""
    batches = folder / spec.base_folder
    names = spec.train_files + spec.test_files
    if all((batches / n).is_file() for n in names):
        return True
    archive = folder / spec.archive
    if archive.is_file():
        wanted = {f"{spec.base_folder}/{n}": batches / n for n in names}
        try:
            with tarfile.open(archive, "r:*") as tar:    # only the batch files, as plain files, bounded
                for member in tar:
                    if member.name in wanted and member.isfile():
                        batches.mkdir(parents=True, exist_ok=True)
                        _unpack(tar.extractfile(member), wanted[member.name], archive)
        except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
            raise DataError(
                f"{archive} is damaged ({_first_line(exc)}): delete it and download or copy "
                "it again."
            ) from exc
    return all((batches / n).is_file() for n in names)


def _load_cifar(spec: Spec, folder: Path, download: bool):
    if not _cifar_present(spec, folder):
        if not download:
            raise _missing_error(spec, folder, "downloading is switched off")
        cls = _tv_class(spec)
        problem = _unreachable([cls.url])
        if problem is None:
            from torchvision.datasets.utils import download_url
            try:
                folder.mkdir(parents=True, exist_ok=True)
                download_url(cls.url, str(folder), filename=cls.filename, md5=cls.tgz_md5)
            except (URLError, OSError, RuntimeError, EOFError) as exc:
                problem = f"the download failed: {_first_line(exc)}"
        if problem is not None or not _cifar_present(spec, folder):
            raise _missing_error(spec, folder, problem or "the download left files missing")
    batches = folder / spec.base_folder
    x_tr, y_tr = read_split([batches / n for n in spec.train_files], spec.label_key)
    x_va, y_va = read_split([batches / n for n in spec.test_files], spec.label_key)
    for labels, where in ((y_tr, "training"), (y_va, "test")):
        if labels.size and (labels.min() < 0 or labels.max() >= len(spec.class_names)):
            top = len(spec.class_names) - 1
            raise DataError(
                f"The {spec.name} {where} batches hold labels outside 0..{top}: "
                f"they are not {spec.title.split(' (')[0]} files; replace the folder {batches}."
            )
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr),
            torch.from_numpy(x_va), torch.from_numpy(y_va))


# -- download helpers and messages ----------------------------------------------------------

def _unreachable(urls: list[str]) -> str | None:
    """None when one of the servers answers a TCP connect; otherwise why none did."""
    reasons = []
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S):
                return None
        except OSError as exc:
            reasons.append(f"{parts.hostname}: {exc.strerror or exc}")
    return "this computer cannot reach the download server (" + "; ".join(reasons) + ")"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def expected_files(spec: Spec, folder: Path) -> str:
    """Which files to put where, in words."""
    if spec.kind == "idx":
        raw = idx_raw_folder(spec, folder)
        return (f"put the four files {', '.join(IDX_FILES)} (each may also end in .gz) "
                f"in the folder {raw}")
    batch_names = ", ".join(spec.train_files + spec.test_files)
    return (f"put {spec.archive} in the folder {folder}, or its extracted folder "
            f"{spec.base_folder}/ (holding {batch_names}) at {folder / spec.base_folder}")


def _missing_error(spec: Spec, folder: Path, reason: str) -> DataError:
    return DataError(
        f"{spec.name} is not on this computer and {reason}. To use it offline, download it "
        f"from {spec.home_page} on a computer with internet and {expected_files(spec, folder)}; "
        "or pick mnist-sample or shapes, which need no download."
    )
