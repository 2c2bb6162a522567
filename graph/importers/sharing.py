"""Weights that two layers share: they stay one tensor, so the layers are imported inside one block.

`head.weight = emb.weight` ties two layers; blocks own their weights, so importing them as two
blocks would make two copies that train apart. fx_import.py keeps the innermost module that holds
both whole (one Opaque block) or refuses the import when that is the model itself.
"""
from __future__ import annotations

from torch import nn


def parent(path: str) -> str:
    return path.rpartition(".")[0]


def common_parent(a: str, b: str) -> str:
    """The innermost module that holds both module paths (`enc.emb`, `head` → "")."""
    common = []
    for x, y in zip(parent(a).split("."), parent(b).split(".")):
        if x != y or not x:
            break
        common.append(x)
    return ".".join(common)


def ties_of(model: nn.Module) -> dict[str, tuple[str, str, str]]:
    """Module path -> (its tensor's name, the other module's path, that tensor's name there) for each
    module that shares a parameter or buffer with another module (`head.weight = emb.weight`)."""
    owners: dict[int, tuple[str, str]] = {}
    ties = {}
    for path, module in model.named_modules(remove_duplicate=False):
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            first = owners.setdefault(id(tensor), (path, name))
            if first[0] != path:
                ties.setdefault(path, (name, *first))
                ties.setdefault(first[0], (first[1], path, name))
    return ties
