"""What an export starts from: a run folder, a checkpoint folder, or an untrained graph file."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from layerloom.graph import CompileError, GraphFileError, analyze, compile_graph, load_graph
from layerloom.graph.fileformat import graph_from_dict
from layerloom.graph.quoting import shown
from layerloom.graph.weights import WeightsError

from ..checkpoints import CheckpointError, load_checkpoint
from ..config import TrainConfig
from ..data import DataError, dataset_info, load_dataset
from ..data_choice import graph_data_context


class ExportError(ValueError):
    """An export that cannot be made; the message says why and what to do."""


@dataclass
class ExportSource:
    doc: object
    model: torch.fx.GraphModule          # eval mode, CPU, weights loaded when trained
    input_shape: tuple[int, ...]
    input_dtype: str
    metadata: dict                       # self-description carried by every format
    trained: bool
    config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # the facts "auto" parameters followed when `model` was built ({"num_classes", "vocab_size"}): code
    # generated for `doc` must follow them too, or its layers would not fit the weights
    data: dict | None = None
    # files one export of this source already made, for another format that starts from the same file (the
    # int8 formats start from an fp32 ONNX file, often the `onnx` format's own): {key: (bytes, result)}.
    # Kept only while an export has more than one such format to make (`share_onnx`, set by export_model).
    made: dict = field(default_factory=dict, repr=False, compare=False)
    share_onnx: bool = field(default=False, repr=False, compare=False)

    def probe(self, batch: int = 2, seed: int = 0, steps: int | None = None) -> torch.Tensor:
        """A batch of inputs; `steps`: another length of the sample's first (sequence) axis."""
        g = torch.Generator().manual_seed(seed)
        shape = (batch, *self.input_shape) if steps is None else (batch, steps, *self.input_shape[1:])
        if self.input_dtype.startswith("int"):
            high = int(self.metadata.get("vocab_size") or 2)
            return torch.randint(0, max(high, 2), shape, generator=g)
        return torch.rand(shape, generator=g)


UNTRAINED_EXPORT = ("this graph has not been trained: the export carries freshly initialised weights (export a run "
                    "folder to get trained ones)")


def weights_note(doc, report: dict | None) -> str:
    """What weights an export of the graph file `doc` carries: freshly initialised ones, or (an imported
    model, a graph given weights) those of the weights file it names, with the tensors it left new."""
    if not report or not report.get("loaded"):
        return UNTRAINED_EXPORT
    new = report.get("new") or []
    rest = (f"; {len(new)} of its tensors are freshly initialised ({', '.join(new[:4])}{', …' if len(new) > 4 else ''})"
            if new else "")
    return (f"this graph has not been trained by Layerloom: the export carries the weights of {shown(doc.weights, 80)}, "
            f"the weights file the graph names ({len(report['loaded'])} tensors){rest}")


def _compile(doc, data: dict | None = None, weights: bool = True) -> torch.fx.GraphModule:
    result = analyze(doc, data)
    try:
        model = compile_graph(doc, result, seed=0, weights=weights)
    except (CompileError, WeightsError) as exc:
        raise ExportError(str(exc)) from None
    return model.eval()


def load_source(path) -> ExportSource:
    """Resolve RUN_DIR, a checkpoint folder, or FILE.loom.json into a model ready to export."""
    path = Path(path)
    if path.is_file() and path.name.endswith(".json"):
        try:
            doc = load_graph(path)
        except GraphFileError as exc:
            raise ExportError(f"cannot read {exc}") from None
        data = graph_data_context(doc)[0]      # the data set it names, as training on it would build it
        model = _compile(doc, data)
        name, shape, dtype = model.meta["layerloom"]["inputs"][0]
        dataset = doc.training.get("dataset") or TrainConfig.dataset     # the set training it would use
        meta = _metadata(doc, shape, dtype, dataset, None, source=path.name, trained=False,
                         data=data)
        return ExportSource(doc, model, tuple(shape), dtype, meta, trained=False, config=dict(doc.training),
                            warnings=[weights_note(doc, model.meta["layerloom"].get("weights"))], data=data)
    if not path.exists():
        raise ExportError(f"{path} does not exist: give a run folder, a checkpoint folder or a .loom.json file")
    try:     # the weights and their description: no format carries the optimizer's state (state.pt)
        ckpt = load_checkpoint(path, training_state=False)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    try:
        doc = graph_from_dict(ckpt.meta["graph"])
    except GraphFileError as exc:
        raise ExportError(f"the checkpoint {ckpt.path} is corrupt: its graph cannot be read ({exc})") from None
    model = _compile(doc, ckpt.meta.get("data_context"), weights=False)   # the checkpoint's weights follow
    try:
        model.load_state_dict(ckpt.weights)
    except RuntimeError as exc:
        raise ExportError(f"the checkpoint's weights do not fit its graph: {exc}") from None
    model.eval()
    name, shape, dtype = model.meta["layerloom"]["inputs"][0]
    meta = _metadata(doc, shape, dtype, ckpt.meta.get("dataset"), ckpt.meta,
                     source="/".join(Path(ckpt.path).parts[-3:]), trained=True)   # no path of this machine
    return ExportSource(doc, model, tuple(shape), dtype, meta, trained=True, config=ckpt.meta.get("config", {}),
                        data=ckpt.meta.get("data_context"))


def _metadata(doc, shape, dtype, dataset, ckpt_meta, source: str, trained: bool, data: dict | None = None) -> dict:
    class_names, mean, std, normalize = None, None, None, True
    if ckpt_meta:
        class_names = ckpt_meta.get("class_names")
        mean, std = ckpt_meta.get("mean"), ckpt_meta.get("std")
        normalize = ckpt_meta.get("normalize", True)
    elif dataset:
        normalize = doc.training.get("normalize", True) is not False   # as training the graph would
        options = doc.training.get("dataset_options") or {}     # an image folder's path: its classes
        options = options if isinstance(options, dict) else {}
        try:
            info = dataset_info(dataset, input_shape=tuple(shape), **options)
            class_names, mean, std = list(info.class_names), list(info.mean), list(info.std)
            if info.placeholder_statistics:     # an image folder: training normalises with the statistics it measures
                measured = load_dataset(dataset, input_shape=tuple(shape), seed=_seed(doc), **options).info
                mean, std = list(measured.mean), list(measured.std)
        except (DataError, OSError, ValueError, TypeError):
            pass
    data = (ckpt_meta or {}).get("data_context") or data
    class_names = complete_class_names(class_names, _output_count(doc, data))
    return {
        "format": "layerloom.model", "graph_name": doc.name, "input_shape": list(shape), "input_dtype": dtype,
        "class_names": class_names, "dataset": dataset,
        "normalization": {"mean": mean, "std": std} if (normalize and mean) else None,
        "source": source, "trained": trained,
        "epochs": ckpt_meta.get("epoch") if ckpt_meta else 0, "steps": ckpt_meta.get("step") if ckpt_meta else 0,
        "vocab_size": (data or {}).get("vocab_size"),
    }


def _seed(doc) -> int:
    """The seed training the graph would use (it picks an image folder's training split)."""
    try:
        return TrainConfig.from_sources(doc.training).seed
    except (ValueError, TypeError):
        return TrainConfig.seed


def _output_count(doc, data: dict | None) -> int:
    """The size of the graph's one 1-D output (0 when it has another form)."""
    result = analyze(doc, data)
    shapes = [result.output_shape(b) for b in result.order if doc.blocks[b].kind == "Output"]
    return shapes[0][0] if len(shapes) == 1 and shapes[0] is not None and len(shapes[0]) == 1 else 0


def complete_class_names(names, outputs: int) -> list[str] | None:
    """The class names, with "output N" for every output past the data set's classes: the metadata
    never has fewer names than the model has outputs."""
    names = [str(n) for n in (names or [])]
    names += [f"output {i}" for i in range(len(names), outputs)]
    return names or None


def metadata_strings(meta: dict) -> dict[str, str]:
    """Metadata as flat strings (safetensors and ONNX metadata hold str -> str)."""
    return {"layerloom": json.dumps(meta), "graph_name": meta["graph_name"],
            "input_shape": json.dumps(meta["input_shape"]), "class_names": json.dumps(meta["class_names"])}
