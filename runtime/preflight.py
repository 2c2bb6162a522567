"""Can this graph train on this data set? The one check, made before anything heavy is loaded.

`check_training(doc, result, info)` looks at the graph's analysis (with the data set's context, so
"auto" parameters already follow it) and the data set's description, and returns Diagnostics:
errors stop training, warnings do not. Where the remedy is one setting, the diagnostic carries a
fix as data, in the same form as the analysis' diagnostics ({"action": "set_param", "block",
"param", "value", "label"}, or {"action": "set_data_option", "option", "value", "label"} among a
fix's "alternatives"), so an editor can offer it as a button.

`preflight(doc, dataset, options)` is the whole check from a graph and a data set's name: it
describes the set offline (no download, no loading), analyses the graph with its context and
returns the graph's errors, `check_training`'s findings and the set's notes (`data_notes`: how its
files are read, e.g. test/ used for validation). The trainer, `layerloom train` and the Training
panel (through `check_training`; it shows the notes with the data set) all decide with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from layerloom.graph import analyze
from layerloom.graph.diagnostics import Diagnostic
from layerloom.graph.problems import Findings
from layerloom.graph.rules import one_value_per_channel

from .data.base import DataError, DatasetInfo, format_shape
from .data.registry import dataset_info, dataset_options

RESIZE_OPTION = "size"     # the data setting that resizes a set's images (image-folder)


def _fix(block: str, param: str, value, label: str) -> dict:
    return {"action": "set_param", "block": block, "param": param, "value": value, "label": label}


def last_linear(doc, result, output_id: str) -> str | None:
    """The Linear whose features reach the Output, following single wires back through activations,
    dropout and reshapes (None when a block with several inputs comes first)."""
    seen = set()
    bid = output_id
    while bid not in seen:
        seen.add(bid)
        into = doc.edges_into(bid)
        if len(into) != 1:
            return None
        bid = into[0].src
        if doc.blocks[bid].kind == "Linear":
            return bid
    return None


def _as_list(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def _resizable(info: DatasetInfo) -> bool:
    try:
        return RESIZE_OPTION in dataset_options(info.name)
    except DataError:
        return False


def _smaller_images(info: DatasetInfo, input_shape: tuple) -> Diagnostic | None:
    """Images smaller than the Input (of a set that can resize them): never enlarged silently; the
    two remedies are a smaller Input or the set's `size` data setting."""
    sample = tuple(info.sample_shape)
    if len(sample) != 3 or len(input_shape) != 3 or sample[0] != input_shape[0] or sample == input_shape:
        return None
    if not (sample[1] < input_shape[1] or sample[2] < input_shape[2]) or not _resizable(info):
        return None
    given = format_shape(sample)
    size = [int(input_shape[1]), int(input_shape[2])]
    fix = _fix("", "shape", list(sample), f"Set the Input to {given}")
    fix["alternatives"] = [_resize_fix(size)]
    return Diagnostic("", f"Input expects {format_shape(input_shape)} but the images of {info.name} are {given}, "
                          f"smaller: set the Input to {given}, or resize the images to {size[0]}×{size[1]} (data "
                          f"setting {RESIZE_OPTION})", "train_small_images", fix=fix)


def _resize_fix(size: list[int]) -> dict:
    return {"action": "set_data_option", "option": RESIZE_OPTION, "value": size,
            "label": f"Resize the images to {size[0]}×{size[1]}"}


def _input_shape_problem(info: DatasetInfo, input_id: str, wanted: tuple) -> Diagnostic | None:
    """The Input's shape against one sample of the set, with what exactly can be done about it."""
    sample = tuple(int(s) for s in info.sample_shape)
    if info.variable_length:
        if len(wanted) == len(sample):
            return None
        return Diagnostic(input_id, f"{info.name} gives sequences of token ids (one dimension, any length) but the "
                                    f"Input expects {format_shape(wanted)}: set the Input shape to {_as_list(sample)} "
                                    "(the length is a nominal one for the shapes shown)", "train_input_shape",
                          fix=_fix(input_id, "shape", list(sample), f"Set the Input shape to {format_shape(sample)}"))
    if wanted == sample:
        return None
    head = f"Input expects {format_shape(wanted)} but {info.name} gives {format_shape(sample)}"
    fix = _fix(input_id, "shape", list(sample), f"Set the Input shape to {format_shape(sample)}")
    if len(wanted) == 1 and len(sample) > 1 and math.prod(wanted) == math.prod(sample):
        return Diagnostic(input_id, f"{head}: set the Input shape to {_as_list(sample)} and put a Flatten right "
                                    "after the Input", "train_input_shape")
    if len(sample) == 3 and len(wanted) == 3 and wanted[0] == sample[0]:
        if _resizable(info):
            size = [int(wanted[1]), int(wanted[2])]
            fix["alternatives"] = [_resize_fix(size)]
            return Diagnostic(input_id, f"{head}: set the Input shape to {_as_list(sample)}, or set the data option "
                                        f"{RESIZE_OPTION} to {size[0]}×{size[1]}", "train_input_shape", fix=fix)
        return Diagnostic(input_id, f"{head}: set the Input shape to {_as_list(sample)} ({info.name}'s images come "
                                    f"at {sample[1]}×{sample[2]}; only an image folder's can be resized, with its "
                                    f"data option {RESIZE_OPTION})", "train_input_shape", fix=fix)
    if len(sample) == 3 and len(wanted) == 3:
        kind = {1: "grayscale", 3: "RGB"}.get(sample[0], f"{sample[0]}-channel")
        return Diagnostic(input_id, f"{head} ({kind} images have {sample[0]} channel{'s' if sample[0] != 1 else ''}): "
                                    f"set the Input shape to {_as_list(sample)}", "train_input_shape", fix=fix)
    return Diagnostic(input_id, f"{head}: set the Input shape to {_as_list(sample)}", "train_input_shape",
                      fix=fix if len(wanted) == len(sample) else None)


def _flattened_before(doc, bid: str) -> str | None:
    """The nearest Flatten or Reshape that feeds `bid`, directly or through other blocks."""
    seen, todo = set(), [e.src for e in doc.edges_into(bid)]
    while todo:
        b = todo.pop(0)
        if b in seen or b not in doc.blocks:
            continue
        seen.add(b)
        if doc.blocks[b].kind in ("Flatten", "Reshape"):
            return b
        todo += [e.src for e in doc.edges_into(b)]
    return None


def _length_problem(doc, result, info: DatasetInfo, input_id: str, steps: int) -> Diagnostic | None:
    """A set of sequences of any length (each batch as long as its longest sequence) against a graph that needs
    the Input's exact number of steps: the first block whose weights are sized by the steps (a Linear after a
    Flatten of them) or that fails on one step fewer (a Reshape that holds them). Found by analysing the graph
    again at that other length."""
    if result is None or not result.ok:
        return None
    other = steps - 1 if steps > 1 else 2
    shorter = doc.copy()
    shorter.blocks[input_id].params["shape"] = [other]
    again = analyze(shorter, info.data_context())
    for bid in result.order:
        here, there = result.blocks[bid], again.blocks.get(bid)
        if there is None or there.status == "blocked" or (there.ok and there.param_count == here.param_count):
            continue
        kind = here.kind
        why = (f"its weights are sized by the Input's {steps} steps ({here.param_count:,} parameters; "
               f"{there.param_count:,} at {other} steps)" if there.ok else f"it runs only on the Input's {steps} steps")
        flatten = _flattened_before(doc, bid)
        if kind == "Linear" and flatten is not None:
            what = (f"bring the steps down to one before {bid} instead of flattening them in {flatten} (a Select of "
                    "the last step, index -1 on the steps' axis: sequences are padded on the left, so it is a real "
                    "one; or a GRU or LSTM whose output is \"last\")")
        else:
            what = f"change {bid} (or the blocks before it) so that it takes any number of steps"
        return Diagnostic(bid, f"block {bid} ({kind}) needs exactly {steps} steps: {why}, but {info.name} gives "
                               f"sequences of any length (each batch is as long as its longest one), so training "
                               f"would fail at its first step: {what}", "train_fixed_length")
    return None


ALL_FROZEN = ("every block with weights is frozen, so there is nothing to train: switch trainable on for at least "
              "one block (the head, for fine-tuning)")


def batch_size_of(doc, batch_size: int | None = None) -> int | None:
    """The run's batch size: the one given, else the graph's training section's (None where neither says)."""
    if batch_size is None:
        batch_size = (doc.training or {}).get("batch_size") if isinstance(doc.training, dict) else None
    return batch_size if isinstance(batch_size, int) and not isinstance(batch_size, bool) else None


def batches_of_one(doc, result, batch_size: int | None) -> list[Diagnostic]:
    """A batch of one sample against the BatchNorms that cannot train on one: each trainable BatchNorm
    whose sample gives one value per channel fails at the first step (torch: "Expected more than 1 value
    per channel when training"). A last, partial batch of one never comes: the trainer leaves it out."""
    if batch_size != 1 or result is None:
        return []
    out = []
    for bid in result.order:
        r, block = result.blocks[bid], doc.blocks.get(bid)
        if block is None or not block.trainable or not r.ok or not r.input_shapes:
            continue
        if one_value_per_channel(r.kind, tuple(r.input_shapes[0])):
            shape = "×".join(map(str, r.input_shapes[0]))
            out.append(Diagnostic(bid, f"{r.kind} normalises each channel over the batch, and each sample gives it "
                                       f"one value per channel (its input is {shape}): with batch_size 1 training "
                                       "fails at its first step. Set batch_size to 2 or more, or use LayerNorm "
                                       "(or GroupNorm) instead of this BatchNorm", "train_batch_of_one"))
    return out


def check_training(doc, result, info: DatasetInfo, batch_size: int | None = None) -> list[Diagnostic]:
    """Mismatches between a graph (and its AnalysisResult) and a data set, as Diagnostics. `batch_size`: the
    run's (default: the graph's training section's)."""
    out: list[Diagnostic] = batches_of_one(doc, result, batch_size_of(doc, batch_size))
    if result is not None:
        weighted = [b for b in result.order if b in doc.blocks and result.blocks[b].param_count]
        if weighted and not any(doc.blocks[b].trainable for b in weighted):
            out.append(Diagnostic(None, ALL_FROZEN, "train_frozen"))
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    if len(inputs) != 1:
        out.append(Diagnostic(None, f"training needs exactly one Input block; this graph has {len(inputs)}",
                              "train_inputs"))
        return out
    if info.num_classes <= 0:
        out.append(Diagnostic(None, f"{info.title} has no classes yet: choose its files in the data settings",
                              "train_no_data"))
        return out
    input_block = inputs[0]
    params = input_block.full_params()
    input_shape, input_dtype = tuple(params["shape"]), params["dtype"]
    smaller = _smaller_images(info, input_shape)
    shape = smaller.for_block(input_block.id) if smaller is not None else \
        _input_shape_problem(info, input_block.id, tuple(int(s) for s in input_shape))
    if shape is not None:
        out.append(shape)
    elif info.variable_length and len(input_shape) == 1:
        fixed = _length_problem(doc, result, info, input_block.id, int(input_shape[0]))
        if fixed is not None:
            out.append(fixed)
    if info.input_dtype != input_dtype:
        out.append(Diagnostic(input_block.id,
                              f"The Input's dtype is {input_dtype} but {info.name} gives {info.input_dtype}: "
                              f"set the Input's dtype to {info.input_dtype}", "train_input_dtype",
                              fix=_fix(input_block.id, "dtype", info.input_dtype,
                                       f"Set the Input's dtype to {info.input_dtype}")))
    outputs = [b for b in result.order if doc.blocks[b].kind == "Output"] if result is not None else []
    if len(outputs) > 1:
        out.append(Diagnostic(None, f"training needs exactly one Output block; this graph has {len(outputs)}",
                              "train_outputs"))
    if len(outputs) == 1 and result.blocks[outputs[0]].ok:
        out_shape = result.blocks[outputs[0]].output_shape
        if out_shape is None or len(out_shape) != 1:
            out.append(Diagnostic(
                outputs[0], f"a classifier's Output needs one score per class per sample, but it receives "
                f"{'×'.join(map(str, out_shape or ()))}: end the graph with a Flatten and a Linear whose "
                "out_features is the number of classes", "train_output_shape"))
        else:
            num_outputs = out_shape[0]
            linear = last_linear(doc, result, outputs[0])
            if info.num_classes > num_outputs:
                fix = (_fix(linear, "out_features", info.num_classes,
                            f"Set {linear}.out_features to {info.num_classes}") if linear else None)
                out.append(Diagnostic(linear, f"The graph ends in {num_outputs} outputs but {info.name} has "
                                      f"{info.num_classes} classes: set the last Linear's out_features to "
                                      f"{info.num_classes}", "train_classes", fix=fix))
            elif num_outputs > info.num_classes:
                label = (f"Reset {linear} for {info.num_classes} classes" if getattr(doc, "weights", None)
                         else f"Set {linear}.out_features to {info.num_classes}")
                fix = _fix(linear, "out_features", info.num_classes, label) if linear else None
                out.append(Diagnostic(linear, f"The graph has {num_outputs} outputs for {info.num_classes} classes; "
                                      "the extra outputs are never a target.", "train_extra_outputs",
                                      severity="warning", fix=fix))
    if info.vocab_size and result is not None:
        for bid in result.order:
            r = result.blocks[bid]
            if r.kind == "Embedding" and r.ok and r.params["num_embeddings"] < info.vocab_size:
                out.append(Diagnostic(bid, f"Embedding has num_embeddings={r.params['num_embeddings']} but "
                                      f"{info.name} has {info.vocab_size} different token ids: set "
                                      f'num_embeddings to "auto" or at least {info.vocab_size}', "train_vocab",
                                      fix=_fix(bid, "num_embeddings", "auto",
                                               f"Set {bid}.num_embeddings to auto ({info.vocab_size})")))
    return out


def data_notes(info: DatasetInfo) -> list[Diagnostic]:
    """What a person should know about how the set's files are read (test/ used for validation, pictures of
    different sizes, macOS resource files skipped), one warning each that stops nothing: the trainer reports
    its warnings when a run starts (`layerloom train` prints each as a `note:` line). Not in `check_training`,
    whose findings the Training panel lists as problems: it shows the notes with the data set instead."""
    return [Diagnostic(None, " ".join(str(note).split()), "data_note", severity="warning") for note in info.notes]


@dataclass
class Preflight(Findings):
    """What `preflight` found (errors, warnings), and what it found it with, for the caller to go on from."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    info: DatasetInfo | None = None      # the data set as described offline; None when it cannot be
    result: object = None                # the graph's AnalysisResult with the set's context


def preflight(doc, dataset: str, options: dict | None = None, info: DatasetInfo | None = None,
              batch_size: int | None = None) -> Preflight:
    """Every reason this graph cannot train on `dataset` (with `options`, and `batch_size`: default the graph's
    training section's), found without loading the data or building the model. `info` skips describing the set
    (a caller that has loaded it)."""
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    if len(inputs) != 1:
        return Preflight([Diagnostic(None, f"training needs exactly one Input block; this graph has {len(inputs)}",
                                     "train_inputs")])
    if info is None:
        try:
            info = dataset_info(dataset, input_shape=tuple(inputs[0].full_params()["shape"]), **(options or {}))
        except DataError as exc:
            return Preflight([Diagnostic(None, " ".join(str(exc).split()), "train_data")])
        except (OSError, ValueError, TypeError) as exc:
            return Preflight([Diagnostic(None, f"{dataset} cannot be described with these options: "
                                               f"{' '.join(str(exc).split())}", "train_data")])
    result = analyze(doc, info.data_context())
    found = list(result.errors) + check_training(doc, result, info, batch_size) + data_notes(info)
    return Preflight(found, info, result)
