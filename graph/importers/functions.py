"""Which block a traced function or method call becomes (`add`/`+=` → Add, `cat` → Concat, ...).

Each handler gets a `Call` (the node's arguments, with tensors as nodes and everything else as the
concrete values seen while tracing) and returns (kind, params, tensor inputs), `ALIAS` for calls that
pass their input on unchanged (`contiguous`: (ALIAS, that input)), or raises `Unmapped` with the reason.
"""
from __future__ import annotations

import operator

import torch
from torch import fx

ALIAS = object()


class Unmapped(Exception):
    """A call with no block (or with arguments its block cannot express)."""


class Call:
    def __init__(self, node: fx.Node, info: dict, batch: int):
        self.node, self.info, self.batch = node, info, batch

    def is_tensor(self, v) -> bool:
        return isinstance(v, fx.Node) and self.info.get(v, ("",))[0] == "tensor"

    def value(self, v):
        """The concrete value of a non-tensor argument (sizes and shapes computed while tracing)."""
        if isinstance(v, fx.Node):
            kind, *rest = self.info.get(v, ("missing",))
            if kind == "value" and isinstance(rest[0], (torch.SymInt, torch.SymFloat, torch.SymBool)):
                raise Unmapped("a setting computed from the batch size has no block: a block's settings are fixed "
                               "numbers, so compute it from the sample's own sizes")
            if kind == "value":
                return rest[0]
            raise Unmapped("a tensor is used where a setting was expected")
        if isinstance(v, (list, tuple)):
            return type(v)(self.value(x) for x in v)
        return v

    def arg(self, index: int, name: str, default=None, tensor: bool = False):
        args, kwargs = self.node.args, self.node.kwargs
        v = args[index] if index < len(args) else kwargs.get(name, default)
        return v if tensor else self.value(v)

    def shape(self, v) -> tuple:
        return self.info[v][1]

    @property
    def out_shape(self) -> tuple:
        return self.info[self.node][1]


def _two(call: Call, kind: str):
    a, b = call.arg(0, "input", tensor=True), call.arg(1, "other", tensor=True)
    if not (call.is_tensor(a) and call.is_tensor(b)):
        raise Unmapped(f"{kind.lower()} of a tensor and a number has no block")
    if call.arg(2, "alpha", 1) != 1:
        raise Unmapped("add with alpha has no block")
    return kind, {"num_inputs": 2}, [a, b]


def _cat(call: Call):
    tensors = call.arg(0, "tensors", tensor=True)
    if not isinstance(tensors, (list, tuple)):      # torch.cat(x.chunk(2, dim=1)): the pieces, not taken one by one
        raise Unmapped("cat of a split's pieces as they come has no block: name them (a, b = x.chunk(2, dim=1)) "
                       "and join them with torch.cat((a, b), dim=1)")
    dim = call.arg(1, "dim", 0)
    if not all(call.is_tensor(t) for t in tensors):
        raise Unmapped("cat of values that are not all tensors")
    rank = len(call.out_shape)
    if dim % rank == 0:
        raise Unmapped("cat along the batch dimension has no block")
    if len(tensors) < 2:
        return ALIAS, tensors[0]
    return "Concat", {"num_inputs": len(tensors), "dim": dim}, list(tensors)


def batch_dim_problem(kind: str, params: dict, rank: int) -> str | None:
    """Why a block cannot do what the call does, when one of its dims (counted from the end, too) is
    the batch dimension (`torch.flatten(x, -3)` on a 3-d tensor), else None."""
    for name in ("dim", "start_dim"):
        d = params.get(name)
        if isinstance(d, int) and not isinstance(d, bool) and rank and d % rank == 0:
            also = f" (dim {d} of a {rank}-d tensor is dim 0)" if d else ""
            return f"{kind.lower()} with {name}={d} works across the batch dimension{also}"
    return None


def _flatten(call: Call):
    x, start, end = call.arg(0, "input", tensor=True), call.arg(1, "start_dim", 0), call.arg(2, "end_dim", -1)
    if batch_dim_problem("flatten", {"start_dim": start}, len(call.shape(x))):
        raise Unmapped(f"flatten from dimension {start} mixes the batch into the features")
    return "Flatten", {"start_dim": start, "end_dim": end}, [x]


def _base_name(node) -> str:
    return call_name(node).split(".")[0] if isinstance(node, fx.Node) and node.op in ("call_function",
                                                                                      "call_method") else ""


def _only_user(node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def shuffle_chain(first, info: dict):
    """(groups, the steps after `first`) where `first` starts a channel shuffle written out, as ShuffleNet's
    channel_shuffle writes it: x.view(n, g, C // g, H, W) → transpose(1, 2) → contiguous() → view(n, C, H, W);
    else None. The whole chain becomes one ChannelShuffle block."""
    if _base_name(first) not in ("view", "reshape") or not first.args or not isinstance(first.args[0], fx.Node):
        return None
    entries = info.get(first.args[0], ("",)), info.get(first, ("",))
    if any(e[0] != "tensor" for e in entries):
        return None
    src, mid = entries[0][1], entries[1][1]
    if len(src) < 3 or len(mid) != len(src) + 1 or mid[0] != src[0] or mid[1] * mid[2] != src[1] or \
            tuple(mid[3:]) != tuple(src[2:]):
        return None
    step = _only_user(first)
    dims = step.args[1:3] if step is not None and _base_name(step) == "transpose" else ()
    if len(dims) != 2 or step.args[0] is not first or not all(isinstance(d, int) for d in dims) or \
            sorted(d % len(mid) for d in dims) != [1, 2]:
        return None
    chain = [step]
    while (after := _only_user(chain[-1])) is not None and _base_name(after) in ("contiguous", "clone") and \
            after.args[0] is chain[-1]:
        chain.append(after)
    last = _only_user(chain[-1])
    if last is None or _base_name(last) not in ("view", "reshape") or last.args[0] is not chain[-1] or \
            info.get(last, ("",))[0] != "tensor" or tuple(info[last][1]) != tuple(src):
        return None
    return mid[1], chain + [last]


def _in_shuffle(node, info: dict) -> bool:
    """Whether `node` is a step after the first of a channel shuffle (it passes the shuffled tensor on)."""
    first = node
    while _base_name(first) in ("view", "reshape", "contiguous", "clone", "transpose") and first.args:
        first = first.args[0]
        found = shuffle_chain(first, info)
        if found is not None:
            return node in found[1]
    return False


def _reshape(call: Call):
    x = call.arg(0, "input", tensor=True)
    if _in_shuffle(call.node, call.info):
        return ALIAS, x
    shuffle = shuffle_chain(call.node, call.info)
    if shuffle is not None:
        return "ChannelShuffle", {"groups": shuffle[0]}, [x]
    if call.shape(x)[0] != call.batch or call.out_shape[0] != call.batch:
        raise Unmapped("a reshape that moves the batch dimension has no block")
    return "Reshape", {"shape": list(call.out_shape[1:])}, [x]


def _dims(call: Call) -> list[int]:
    rest = [call.value(a) for a in call.node.args[1:]]
    dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    if not dims:
        dims = call.value(call.node.kwargs.get("dims", ()))
    rank = len(call.out_shape)
    return [d % rank for d in dims]


def _squeeze(call: Call):
    dim = call.arg(1, "dim", None)
    if dim is None:
        raise Unmapped("squeeze without a dim also drops a batch of one; name the dimension to squeeze (x.squeeze(1))")
    rank = len(call.shape(call.arg(0, "input", tensor=True)))
    for d in dim if isinstance(dim, (list, tuple)) else [dim]:        # aten.squeeze.dims takes a list
        problem = batch_dim_problem("squeeze", {"dim": d}, rank)
        if problem:
            raise Unmapped(f"{problem}: it would drop a batch of one; name a dimension after the batch")
    return _reshape(call)


def _select(call: Call):
    x, dim, index = call.arg(0, "input", tensor=True), call.arg(1, "dim"), call.arg(2, "index")
    if batch_dim_problem("select", {"dim": dim}, len(call.shape(x))):
        raise Unmapped(f"select with dim={dim} picks one sample of the batch")
    return "Select", {"dim": dim, "index": index}, [x]


def _permute(call: Call):
    dims = _dims(call)
    if dims[0] != 0:
        raise Unmapped("a permute that moves the batch dimension has no block")
    return "Permute", {"dims": [d - 1 for d in dims[1:]]}, [call.arg(0, "input", tensor=True)]


def _transpose(call: Call):
    if _in_shuffle(call.node, call.info):
        return ALIAS, call.arg(0, "input", tensor=True)
    rank = len(call.out_shape)
    d0, d1 = call.arg(1, "dim0") % rank, call.arg(2, "dim1") % rank
    if 0 in (d0, d1):
        raise Unmapped("a transpose that moves the batch dimension has no block")
    dims = list(range(1, rank))
    dims[d0 - 1], dims[d1 - 1] = dims[d1 - 1], dims[d0 - 1]
    return "Permute", {"dims": [d - 1 for d in dims]}, [call.arg(0, "input", tensor=True)]


def _simple(kind: str, **read):
    def handler(call: Call):
        params = {}
        for name, (index, key, default) in read.items():
            params[name] = call.arg(index, key, default)
        return kind, params, [call.arg(0, "input", tensor=True)]
    return handler


def _dropout(call: Call):
    node = call.node
    training = call.value(node.args[2]) if len(node.args) > 2 else \
        call.value(node.kwargs.get("training", node.kwargs.get("train", True)))
    if training is True:       # F.dropout(x, p): its default drops in evaluation too, where the block does not
        raise Unmapped("dropout with training=True drops values in evaluation too; pass training=self.training")
    return "Dropout", {"p": float(call.arg(1, "p", 0.5))}, [call.arg(0, "input", tensor=True)]


def _size(v):
    if isinstance(v, (list, tuple)):
        return v[0] if len(set(v)) == 1 else list(v)
    return v


def _adaptive(kind: str):
    def handler(call: Call):
        size = call.arg(1, "output_size")
        if size is None or (isinstance(size, (list, tuple)) and None in size):
            raise Unmapped("an adaptive pooling that keeps a dimension has no block")
        return kind, {"output_size": _size(size)}, [call.arg(0, "input", tensor=True)]
    return handler


def _max_pool(call: Call):
    if call.arg(6, "return_indices", False):
        raise Unmapped("max pooling that returns indices")
    k = call.arg(1, "kernel_size")
    stride = call.arg(2, "stride", None)
    return "MaxPool2d", {"kernel_size": _size(k), "stride": _size(stride) if stride not in (None, [], ()) else None,
                         "padding": _size(call.arg(3, "padding", 0)), "dilation": _size(call.arg(4, "dilation", 1)),
                         "ceil_mode": bool(call.arg(5, "ceil_mode", False))}, [call.arg(0, "input", tensor=True)]


def _avg_pool(call: Call):
    if call.arg(6, "divisor_override", None) is not None:
        raise Unmapped("avg_pool2d with divisor_override")
    k = call.arg(1, "kernel_size")
    stride = call.arg(2, "stride", None)
    return "AvgPool2d", {"kernel_size": _size(k), "stride": _size(stride) if stride not in (None, [], ()) else None,
                         "padding": _size(call.arg(3, "padding", 0)),
                         "ceil_mode": bool(call.arg(4, "ceil_mode", False)),
                         "count_include_pad": bool(call.arg(5, "count_include_pad", True))}, \
        [call.arg(0, "input", tensor=True)]


def _hardtanh(call: Call):
    if (call.arg(1, "min_val", -1.0), call.arg(2, "max_val", 1.0)) != (0.0, 6.0):
        raise Unmapped("hardtanh other than ReLU6")
    return "ReLU6", {}, [call.arg(0, "input", tensor=True)]


def _interpolate(call: Call):
    size, scale = call.arg(1, "size", None), call.arg(2, "scale_factor", None)
    if isinstance(scale, (list, tuple)):
        if len(set(scale)) != 1:
            raise Unmapped("interpolate with a different scale per dimension")
        scale = scale[0]
    if call.arg(5, "recompute_scale_factor", None) or call.arg(6, "antialias", False):
        raise Unmapped("interpolate with recompute_scale_factor or antialias")
    return "Upsample", {"size": _size(size) if size is not None else None,
                        "scale_factor": float(scale) if scale is not None else None,
                        "mode": call.arg(3, "mode", "nearest"), "align_corners": call.arg(4, "align_corners", None)}, \
        [call.arg(0, "input", tensor=True)]


def _softmax(kind: str):
    def handler(call: Call):
        dim = call.arg(1, "dim", None)
        if dim is None:
            raise Unmapped("softmax without a dim")
        problem = batch_dim_problem(kind, {"dim": dim}, len(call.out_shape))
        if problem:
            raise Unmapped(problem)
        return kind, {"dim": dim}, [call.arg(0, "input", tensor=True)]
    return handler


def _mean(call: Call):
    """x.mean([2, 3]) of an N×C×H×W tensor is a global average pool (then a Reshape to C without keepdim)."""
    x = call.arg(0, "input", tensor=True)
    dims, keep = call.arg(1, "dim", None), call.arg(2, "keepdim", False)
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    rank = len(call.shape(x))
    if rank != 4 or sorted(d % rank for d in dims) != [2, 3] or call.node.kwargs.get("dtype") is not None:
        raise Unmapped(f"mean over dims {dims} of a {rank}-d tensor has no block (only the last two of "
                       "N×C×H×W, a global average pool); use nn.AdaptiveAvgPool2d(1) there")
    pool = ("AdaptiveAvgPool2d", {"output_size": 1}, [x])
    return pool if keep else (*pool, [("Reshape", {"shape": [call.shape(x)[1]]})])


def _alias(call: Call):
    return ALIAS, call.arg(0, "input", tensor=True)


HANDLERS = {
    "add": lambda c: _two(c, "Add"), "iadd": lambda c: _two(c, "Add"),
    "mul": lambda c: _two(c, "Mul"), "imul": lambda c: _two(c, "Mul"),
    "cat": _cat, "concat": _cat, "concatenate": _cat,
    "flatten": _flatten, "reshape": _reshape, "view": _reshape, "unsqueeze": _reshape, "squeeze": _squeeze,
    "select": _select,
    "permute": _permute, "transpose": _transpose,
    "relu": _simple("ReLU"), "relu6": _simple("ReLU6"), "hardtanh": _hardtanh, "silu": _simple("SiLU"),
    "hardswish": _simple("Hardswish"), "hardsigmoid": _simple("Hardsigmoid"), "sigmoid": _simple("Sigmoid"),
    "tanh": _simple("Tanh"), "gelu": _simple("GELU", approximate=(1, "approximate", "none")),
    "leaky_relu": _simple("LeakyReLU", negative_slope=(1, "negative_slope", 0.01)),
    "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "dropout": _dropout, "adaptive_avg_pool2d": _adaptive("AdaptiveAvgPool2d"),
    "adaptive_max_pool2d": _adaptive("AdaptiveMaxPool2d"), "max_pool2d": _max_pool, "avg_pool2d": _avg_pool,
    "interpolate": _interpolate, "upsample": _interpolate,
    "channel_shuffle": _simple("ChannelShuffle", groups=(1, "groups", None)),
    "mean": _mean, "contiguous": _alias, "clone": _alias, "detach": _alias,
}


SPLITS = ("chunk", "split", "tensor_split", "split_with_sizes", "unbind")


def is_split(node, info: dict) -> bool:
    """A call that cuts a tensor into pieces (`x.chunk(2, dim=1)`): each piece taken from it is a block."""
    return _base_name(node) in SPLITS and info.get(node, ("",))[0] == "tuple"


def piece_of(node: fx.Node, index, info: dict, batch: int):
    """(kind, params, [input]) for piece `index` of a split: a Narrow over the positions that piece holds
    (read from the pieces' traced shapes), or a Select for unbind's; raises Unmapped."""
    call = Call(node, info, batch)
    x = call.arg(0, "input", tensor=True)
    unbind = _base_name(node) == "unbind"
    dim = call.arg(1 if unbind else 2, "dim", 0)
    pieces = info[node][1]
    if not isinstance(index, int) or isinstance(index, bool) or not -len(pieces) <= index < len(pieces):
        raise Unmapped(f"taking piece {index!r} of {call_name(node)} has no block")
    problem = batch_dim_problem(call_name(node), {"dim": dim}, len(call.shape(x)))
    if problem:
        raise Unmapped(problem)
    index %= len(pieces)
    if unbind:
        return "Select", {"dim": dim, "index": index}, [x]
    start = sum(piece[1][dim] for piece in pieces[:index])
    if pieces[index][1][dim] == 0:
        raise Unmapped(f"piece {index} of {call_name(node)} is empty")
    return "Narrow", {"dim": dim, "start": start, "length": pieces[index][1][dim]}, [x]


def function_text(target) -> str:
    """A called function as a person writes it: `torch.rand_like`, `torch.nn.functional.relu`, `operator.add`
    (not torch's internal `_VariableFunctionsClass.rand_like`)."""
    name = getattr(target, "__name__", None)
    module = getattr(target, "__module__", None)
    if not isinstance(name, str):
        return str(target)
    return f"{module.lstrip('_')}.{name}" if isinstance(module, str) and module != "builtins" else name


def call_name(node: fx.Node) -> str:
    """`add` for operator.add, torch.add and x.add_; `max_pool2d` for F.max_pool2d's dispatcher."""
    if node.op == "call_method":
        name = str(node.target)
    else:
        name = getattr(node.target, "__name__", str(node.target))
        if node.target is operator.getitem:
            return "getitem"
    name = name.strip("_")
    if name.endswith("_with_indices"):
        name = name[: -len("_with_indices")]
    return name


def map_call(node: fx.Node, info: dict, batch: int):
    """(kind, params, tensor input nodes), (ALIAS, input node), or raise Unmapped."""
    name = call_name(node)
    handler = HANDLERS.get(name)
    if handler is None:
        raise Unmapped(f"{function_text(node.target) if node.op != 'call_method' else node.target} has no block")
    return handler(Call(node, info, batch))


def tensor_of(info_entry) -> bool:
    return info_entry[0] == "tensor"


def describe(value) -> tuple:
    """What tracing saw for one node: ("tensor", shape, dtype), ("tuple", [entries]) or ("value", v)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype).removeprefix("torch."))
    if isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value):
        return ("tuple", [describe(v) for v in value])
    return ("value", value)
