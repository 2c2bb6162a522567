"""Can this graph train on this data set? The checks the trainer makes, before anything is loaded.

`check_training(doc, result, info)` looks at the graph's analysis (with the data set's context, so
"auto" parameters already follow it) and the data set's description, and returns Diagnostics:
errors stop training, warnings do not. Where the remedy is one parameter, the diagnostic carries
a fix in the same form as the analysis' diagnostics ({"action": "set_param", "block", "param",
"value", "label"}), so an editor can offer it as a button. The trainer runs the same checks.
"""
from __future__ import annotations

from layerloom.graph.diagnostics import Diagnostic

from .data.base import DataError, DatasetInfo, format_shape
from .data.compatibility import check_compatibility
from .data.registry import dataset_options

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


def _smaller_images(info: DatasetInfo, input_shape: tuple) -> Diagnostic | None:
    """Images smaller than the Input (of a set that can resize them): never enlarged silently; the
    two remedies are a smaller Input or the set's `size` data setting."""
    sample = tuple(info.sample_shape)
    if len(sample) != 3 or len(input_shape) != 3 or sample[0] != input_shape[0] or sample == input_shape:
        return None
    if not (sample[1] < input_shape[1] or sample[2] < input_shape[2]):
        return None
    try:
        if RESIZE_OPTION not in dataset_options(info.name):
            return None
    except DataError:
        return None
    size = [int(input_shape[1]), int(input_shape[2])]
    given, wanted = format_shape(sample), format_shape(input_shape)
    resize = {"action": "set_data_option", "option": RESIZE_OPTION, "value": size,
              "label": f"Resize the images to {size[0]}×{size[1]}"}
    fix = _fix("", "shape", list(sample), f"Set the Input to {given}")
    fix["alternatives"] = [resize]
    return Diagnostic("", f"Input expects {wanted} but the images of {info.name} are {given}, smaller: set the "
                          f"Input to {given}, or resize the images to {size[0]}×{size[1]} (data setting "
                          f"{RESIZE_OPTION})", "train_small_images", fix=fix)


def check_training(doc, result, info: DatasetInfo) -> list[Diagnostic]:
    """Mismatches between a graph (and its AnalysisResult) and a data set, as Diagnostics."""
    out: list[Diagnostic] = []
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
    if smaller is not None:
        out.append(smaller.for_block(input_block.id))
    for message in [] if smaller is not None else check_compatibility(info, input_shape, None):
        same_rank = len(input_shape) == len(info.sample_shape)
        fix = None
        if same_rank and "Flatten" not in message:
            shown = format_shape(info.sample_shape)
            fix = _fix(input_block.id, "shape", list(info.sample_shape), f"Set the Input shape to {shown}")
        out.append(Diagnostic(input_block.id, message, "train_input_shape", fix=fix))
    if info.input_dtype != input_dtype:
        out.append(Diagnostic(input_block.id,
                              f"The Input's dtype is {input_dtype} but {info.name} gives {info.input_dtype}: "
                              f"set the Input's dtype to {info.input_dtype}", "train_input_dtype",
                              fix=_fix(input_block.id, "dtype", info.input_dtype,
                                       f"Set the Input's dtype to {info.input_dtype}")))
    outputs = [b for b in result.order if doc.blocks[b].kind == "Output"] if result is not None else []
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
                out.append(Diagnostic(bid, f"{bid}: Embedding has num_embeddings={r.params['num_embeddings']} but "
                                      f"{info.name} has {info.vocab_size} different token ids: set "
                                      f'num_embeddings to "auto" or at least {info.vocab_size}', "train_vocab",
                                      fix=_fix(bid, "num_embeddings", "auto",
                                               f"Set {bid}.num_embeddings to auto ({info.vocab_size})")))
    return out
