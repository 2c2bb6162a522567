"""State_dict files torch.save wrote, read with `torch.load(weights_only=True)` (it never builds objects that
would run code from the file), and in words why one cannot be read.

torch.save writes a zip (its `<name>/data.pkl` beside the tensors' bytes, stored uncompressed), or with
`_use_new_zipfile_serialization=False` its older format: a pickled magic number, then the pickled data. When
torch cannot read a file it says so with EOFError, IndexError, struct.error, KeyError, RuntimeError or
UnpicklingError; `load_failure` turns that into what is wrong with the file and what to do.
"""
from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from layerloom.graph.weights import WeightsError

from .checkpoints import unpacks_beyond

ZIP_HEAD = b"PK\x03\x04"
MAGIC = 0x1950A86A20F9469CFC6C          # what torch.save's older format pickles first
# ... with the pickle protocol torch.save was given (0 and 1 write the number as text, 4 and 5 in a frame)
OLDER_HEADS = tuple(pickle.dumps(MAGIC, protocol=p)[:-1] for p in range(pickle.HIGHEST_PROTOCOL + 1))
SAVE_AGAIN = "save the weights again with torch.save"


def read_state_dict_file(path) -> dict:
    """The tensors by name of a file torch.save wrote (a state_dict, or one under "state_dict", "model",
    "model_state_dict" or "module"); raises WeightsError in words."""
    path = Path(path)
    if path.exists() and not path.is_file():      # a pipe or a device would be read for ever
        raise WeightsError(f"{path} is not a file: give a run folder, a checkpoint folder, a .safetensors or .pt "
                           "file, or torchvision:NAME")
    problem = packed_problem(path) or other_zip(path)
    if problem:
        raise WeightsError(problem)
    try:
        with warnings.catch_warnings():     # torch warns about archives and protocols it then refuses anyway
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path} does not exist") from None
    except Exception as exc:   # noqa: BLE001 - torch says a damaged file in many ways: each becomes a sentence
        raise WeightsError(load_failure(path, exc)) from None
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not any(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"{path} holds no tensors by name (a state_dict)")
    return data


def size_text(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.1f} KB"


def packed_problem(path: Path) -> str | None:
    """A zip that unpacks to far more than it holds (checkpoints.unpacks_beyond), in words, or None."""
    sizes = unpacks_beyond(path)
    if not sizes:
        return None
    return (f"{path} unpacks to {size_text(sizes[0])} from a file of {size_text(sizes[1])}, which torch.save never "
            "writes (it does not compress), so Layerloom does not read it: save the weights again with torch.save, "
            "or as .safetensors")


def older_format(head: bytes) -> bool:
    """Whether a file that starts with `head` is in torch.save's older format (or is that format cut short
    inside its first bytes)."""
    return any(head.startswith(h) or h.startswith(head) for h in OLDER_HEADS)


def load_failure(path: Path, exc: BaseException) -> str:
    """Why torch.load(weights_only=True) could not read a file, in words."""
    try:
        with open(path, "rb") as f:
            head = f.read(max(map(len, OLDER_HEADS)))
    except OSError as err:
        return f"{path} cannot be read ({err.strerror or err})"
    text = str(exc)
    refused = isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in text
    if not head:
        return f"{path} is empty; {SAVE_AGAIN}"
    if head.startswith(ZIP_HEAD):
        if not zipfile.is_zipfile(path):
            return f"{path} is cut short or damaged: its zip directory is missing; {SAVE_AGAIN}"
        other = other_zip(path)
        if other:
            return other
        if not refused:
            return f"{path} is damaged: its zip does not hold what torch.save writes; {SAVE_AGAIN}"
    elif not older_format(head):
        return (f"{path} is not a file torch.save wrote: give a .pt or .pth file from torch.save, a .safetensors "
                "file, a run or checkpoint folder, or torchvision:NAME")
    elif not refused or any(h.startswith(head) and len(head) < len(h) for h in OLDER_HEADS):
        return f"{path} is cut short or damaged (torch's older, non-zip format, ending before its data); {SAVE_AGAIN}"
    if "Unsupported operand" in text:      # a pickle protocol torch's safe reader does not read (0, 1, 4 or 5)
        return (f"{path} was saved with a pickle protocol torch's safe reader cannot read, or is damaged: "
                f"{SAVE_AGAIN}, leaving pickle_protocol at its default")
    return (f"{path} holds Python objects besides tensors and plain values (building them would run code from the "
            "file, which Layerloom never does), or is damaged: save model.state_dict() with torch.save and give "
            "that file")


def other_zip(path: Path) -> str | None:
    """A zip that is not torch.save's (a TorchScript program, an exported program), in words, or None: refused
    before torch reads it (torch.load would hand a TorchScript program to torch.jit.load)."""
    try:
        with open(path, "rb") as f:
            if f.read(len(ZIP_HEAD)) != ZIP_HEAD:
                return None
    except OSError:
        return None
    kind = _zip_kind(path)
    return (f"{path} is {kind}, not a file of weights torch.save wrote: load it in PyTorch and save "
            "model.state_dict() with torch.save, then give that file") if kind else None


def _zip_kind(path: Path) -> str | None:
    """What a zip holds that is not torch.save's: "a TorchScript program", "an exported program (torch.export)",
    "a zip of other files", or None for torch.save's own (a data.pkl in its one folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception:       # noqa: BLE001 - a zip too damaged to list: torch's own reading said so
        return None
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return "a TorchScript program (torch.jit.save)"
    if any("/models/" in n and n.endswith(".json") for n in names):
        return "an exported program (torch.export)"
    if not any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
        return "a zip of other files"
    return None
