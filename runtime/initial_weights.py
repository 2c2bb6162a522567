"""Starting a run from trained weights ("Initialise from…") and from the graph's own weights.

    layerloom train net.loom.json --init-from runs/20260101-120000-net
    Trainer(doc, {"init_from": "resnet18.safetensors"})

`init_from` names a run folder, a checkpoint folder, a `.safetensors` file, a state_dict file
(`.pt`/`.pth`, read with `weights_only=True`, never unpickling code) or `torchvision:NAME` for
torchvision's published weights, downloaded once into the user data folder
(`<data folder>/torchvision-weights/`, see runtime/data/paths.py) when online; offline the message
says which file to put where. Tensors are matched onto blocks by layerloom.graph.weights'
one rule (block id, else module path, and always the shape; a module path too long for a block id is
shortened as the importer shortened it, see graph/importers/block_ids.py); a head whose class count differs
keeps its fresh weights, and the report (a `weights_loaded` event) lists what was loaded, skipped
and left new. The graph's own weights file is loaded by compile_graph before this runs.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from layerloom.graph.weights import WeightsError, load_matching, read_safetensors, safetensors_problem

from .checkpoints import CheckpointError, check_unpacked_size, latest_checkpoint, load_checkpoint
from .data.paths import data_root
from .torch_files import SAVE_AGAIN, ZIP_HEAD, other_zip, packed_problem, read_state_dict_file

TORCHVISION_PREFIX = "torchvision:"
SAFETENSORS_HEADER_LIMIT = 100_000_000     # the largest header safetensors reads


def weights_folder() -> Path:
    return data_root() / "torchvision-weights"


def torchvision_weights(name: str) -> dict:
    """torchvision's published weights for a model name (e.g. resnet18), from the user data folder,
    downloading them there first when they are missing and the machine is online."""
    import torchvision
    try:
        entry = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        raise WeightsError(f'torchvision has no model called "{name}" with published weights') from None
    url = entry.url
    folder = weights_folder()
    path = folder / url.rsplit("/", 1)[-1]
    if not path.is_file():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), progress=False)
        except Exception as exc:
            raise WeightsError(
                f"torchvision's {name} weights are not on this machine and cannot be downloaded "
                f"({type(exc).__name__}). Download {url} and put it in {folder} (as {path.name})") from None
    return read_state_dict_file(path)


def read_init_source(spec: str) -> dict:
    """The tensors `init_from` names (see the module docstring); raises WeightsError."""
    spec = str(spec)
    if spec.startswith(TORCHVISION_PREFIX):
        return torchvision_weights(spec[len(TORCHVISION_PREFIX):])
    path = Path(spec).expanduser()
    if path.is_dir():
        try:
            return load_checkpoint(path).weights
        except CheckpointError as exc:
            raise WeightsError(str(exc)) from None
    if path.suffix == ".safetensors" or is_safetensors(path):       # whatever its name ends in
        return read_safetensors(path, "the file to initialise from")
    if not path.exists():
        raise WeightsError(f"{path} does not exist: give a run folder, a checkpoint folder, a .safetensors or "
                           ".pt file, or torchvision:NAME")
    return read_state_dict_file(path)


def with_long_ids(source: dict, target: dict) -> dict:
    """`source` with the names of modules whose block ids an import shortened (ids hold at most 64 characters:
    `encoder.stage_number_one.0.squeeze_excitation.first_projection.weight` becomes a block id of 58) renamed
    to those blocks' keys in `target`, so that matching (block id, else module path) finds them too."""
    from layerloom.graph.importers.block_ids import source_aliases
    return source_aliases(source, target)


def init_source_problem(spec) -> str | None:
    """Why `init_from` cannot be read, as far as can be seen without reading its tensors (the readiness
    check before ▶ Train): a path that is missing, a folder with no checkpoint, a safetensors file whose
    header does not cover it, a .pt zip cut short. None when nothing is seen; torchvision's weights are
    found (or downloaded) when the run starts."""
    spec = str(spec or "")
    if not spec or spec.startswith(TORCHVISION_PREFIX):
        return None
    path = Path(spec).expanduser()
    if path.is_dir():
        try:
            found = latest_checkpoint(path)
        except CheckpointError as exc:
            return exc.reason
        try:
            check_unpacked_size(found, found / "state.pt")     # in the words loading it would use
        except CheckpointError as exc:
            return exc.reason
        return (safetensors_problem(found / "model.safetensors", "the checkpoint's weights file")
                or _zip_problem(found / "state.pt", "the checkpoint's state file"))
    if path.suffix == ".safetensors" or not path.is_file() or is_safetensors(path):
        return safetensors_problem(path, "the file")
    return _zip_problem(path, "the file")


def is_safetensors(path: Path) -> bool:
    """Whether a regular file starts as a safetensors file does: the length of a JSON header, then "{" (a file
    cut short inside its header included: it is then a damaged safetensors file)."""
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(9)
        return len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") <= SAFETENSORS_HEADER_LIMIT
    except OSError:
        return False


def _zip_problem(path: Path, what: str) -> str | None:
    """A file torch.save wrote (a zip, with its directory at the end) that is cut short or damaged, or that
    unpacks to more than it holds."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if len(head) < 4:           # no format Layerloom reads fits in fewer bytes
            return f"{what} {path} is cut short: it holds {len(head)} byte{'s' if len(head) != 1 else ''}; {SAVE_AGAIN}"
        if head == ZIP_HEAD and not zipfile.is_zipfile(path):
            return f"{what} {path} is cut short or damaged: its zip directory is missing; {SAVE_AGAIN}"
    except OSError as exc:
        return f"{what} {path} cannot be read ({exc.strerror or exc})"
    packed = packed_problem(path) or other_zip(path)
    return f"{what} {packed}" if packed else None


class InitialWeights:
    """Trainer extension: reports the graph's own weights and loads `init_from` (resumed runs keep
    their checkpoint's weights instead)."""

    def setup(self, trainer) -> None:
        graph_report = (trainer.model.meta.get("layerloom", {}) if hasattr(trainer.model, "meta") else {}).get("weights")
        if graph_report:
            trainer.emit({"type": "weights_loaded", "what": "graph", **graph_report})
        spec = trainer.config.init_from
        if not spec or trainer.resume_from is not None:
            return
        from .trainer import TrainingFailed
        try:
            source = read_init_source(spec)
        except WeightsError as exc:
            raise TrainingFailed(f"init_from: {exc}") from None
        report = load_matching(trainer.model, with_long_ids(source, trainer.model.state_dict()), spec)
        if not report.loaded:
            raise TrainingFailed(f"init_from: nothing in {spec} fits this graph (no block id, module path and "
                                 "shape agree); check that it holds weights of this network")
        trainer.emit({"type": "weights_loaded", "what": "init_from", "summary": report.summary(), **report.to_dict()})
