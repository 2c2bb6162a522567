"""The settings of an Opaque block that keeps a source module whole: its class and the constructor
arguments read back from its attributes, checked by rebuilding it (same tensors, same shapes).

A layer whose weight is parametrized (weight normalisation, spectral normalisation: torch.nn.utils.parametrize,
or the older weight_norm / spectral_norm hooks) is named as such, with how to remove the parametrization:
no block expresses one, and a class rebuilt from its arguments would not have it.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from ..opaque import OpaqueError, encode_argument, opaque_module, target_of
from ..params import MAX_TEXT
from ..quoting import shown
from .report import ImportFailure

_REMOVE_NEW = ('torch.nn.utils.parametrize.remove_parametrizations(layer, "weight")')
_REMOVE_OLD = {"weight normalisation": "torch.nn.utils.remove_weight_norm(layer)",
               "spectral normalisation": "torch.nn.utils.remove_spectral_norm(layer)"}


def _what(name: str) -> str:
    lowered = name.lower()
    if "weightnorm" in lowered:
        return "weight normalisation"
    if "spectralnorm" in lowered:
        return "spectral normalisation"
    return f"a parametrization ({name})"


def parametrization_of(module: nn.Module) -> tuple[str, str, str] | None:
    """(what it is, the tensor, how to remove it) when `module` itself has a parametrized tensor or a
    weight_norm / spectral_norm hook; None when it has neither."""
    from torch.nn.utils import parametrize
    if parametrize.is_parametrized(module):
        tensor, chain = next(iter(module.parametrizations.items()))
        names = [type(p).__name__ for p in chain]
        what = _what(names[0]) if names else "a parametrization"
        return what, tensor, _REMOVE_NEW.replace('"weight"', repr(tensor).replace("'", '"'))
    for hook in module._forward_pre_hooks.values():
        kind = type(hook).__name__
        if kind in ("WeightNorm", "SpectralNorm"):
            what = _what(kind)
            return what, getattr(hook, "name", "weight"), _REMOVE_OLD[what]
    return None


def parametrization_problem(module: nn.Module, path: str) -> str | None:
    """The refusal for a parametrized layer at or inside `module` (at `path`), or None."""
    for sub_path, sub in module.named_modules():
        found = parametrization_of(sub)
        if found is None:
            continue
        what, tensor, remove = found
        where = ".".join(p for p in (path, sub_path) if p) or "the model"
        return (f"{where} ({_layer_name(sub)}) is a parametrized layer: its {tensor} is computed by {what}, which "
                "Layerloom's blocks do not express. Remove it from that layer before importing, with "
                f"{remove}; that keeps "
                f"the layer's current {tensor} as a plain tensor (which then trains as it is), and import again")
    return None


def _layer_name(module: nn.Module) -> str:
    """nn.Linear for torch's ParametrizedLinear: the layer the person wrote."""
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.modules"):
            return cls.__name__
    return type(module).__name__


def constructor_arguments(module: nn.Module) -> dict:
    """Keyword arguments that rebuild `module` from its attributes of the same names (raises TypeError)."""
    sig = inspect.signature(type(module).__init__)
    kwargs = {}
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(module, name) and not isinstance(getattr(module, name), (torch.Tensor, nn.Module)):
            kwargs[name] = encode_argument(getattr(module, name))
        elif p.default is p.empty:
            raise TypeError(f"its constructor argument {name!r} is not kept as an attribute; add "
                            f"self.{name} = {name} to its __init__")
    return kwargs


def opaque_params(module: nn.Module, path: str, reason: str, source: str, n_inputs: int) -> dict:
    """The Opaque block's params for `module` (at `path`) kept whole for `reason`; raises ImportFailure."""
    own = parametrization_of(module)
    if own is not None:                  # torch's own layer with a parametrization: that is the whole story
        raise ImportFailure(parametrization_problem(module, path))
    target = target_of(type(module))
    try:
        kwargs = constructor_arguments(module)
        rebuilt = opaque_module(target, [], kwargs)
    except (TypeError, OpaqueError) as exc:
        raise ImportFailure(parametrization_problem(module, path) or
                            f"{path or 'the model'} ({type(module).__name__}) must stay whole ({reason}), but it "
                            f"cannot be rebuilt from data: {exc}") from None
    mine = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if mine != theirs:
        raise ImportFailure(parametrization_problem(module, path) or
                            f"{path} ({type(module).__name__}) must stay whole ({reason}), but rebuilding it from "
                            "its attributes gives different tensors; give its class attributes named like its "
                            "constructor arguments")
    return {"target": target, "args": [], "kwargs": kwargs, "num_inputs": n_inputs,
            "origin": shown(f"{source}, module {path}: {reason}", MAX_TEXT)}
