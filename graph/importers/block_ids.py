"""Block ids made from module paths, and source tensor names given the ids of long module paths.

A block id holds at most 64 characters (document.id_problem). An importer names a block after the
module it came from (`layer1.0.conv1` → `layer1_0_conv1`); a path whose id would be longer than
ID_ROOM becomes its first characters, `_` and eight hex digits of the full id's SHA-1:

    encoder_stage_number_one.0.squeeze_excitation_component.first_projection_layer
    → encoder_stage_number_one_0_squeeze_excitation_compone_3f0c1a9b

The same rule applied to a source's state_dict names (`source_aliases`) finds those blocks again, so
starting a run from the source's weights (`init_from`) or comparing the import with its source loads
every layer. Ids that graphs imported before this rule have (the first 58 characters) are tried too.
"""
from __future__ import annotations

import hashlib

from ..weights import module_path_to_id

ID_ROOM = 58          # leaves room for `_2` … `_999` after it within the 64 characters an id may hold
_HASHED = 8


def shortened(full_id: str) -> str:
    """`full_id` itself when it fits ID_ROOM, else its start, `_` and a hash of the whole of it."""
    if len(full_id) <= ID_ROOM:
        return full_id
    digest = hashlib.sha1(full_id.encode("utf-8")).hexdigest()[:_HASHED]
    return f"{full_id[:ID_ROOM - _HASHED - 1]}_{digest}"


def block_id_of(path: str) -> str:
    """The id base for a block made from module path `path` (before any `_2` for a module called again)."""
    return shortened(module_path_to_id(path)) if path else ""


def _long_ids(key: str):
    """(key, whether it is the key the usual rule gives) pairs a source tensor `key` may have in a graph whose
    ids of long module paths were shortened."""
    stripped = key
    for prefix in ("module.", "model.", "_orig_mod."):
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix):]
    parts = stripped.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        full = module_path_to_id(".".join(parts[:cut]))
        if len(full) > ID_ROOM:
            rest = ".".join(parts[cut:])
            yield f"{full}.{rest}", True           # a block named so by hand: the key as it is fits it
            yield f"{shortened(full)}.{rest}", False
            yield f"{full[:ID_ROOM]}.{rest}", False    # a graph imported before ids were hashed
    full = module_path_to_id(stripped)
    if len(full) > ID_ROOM:                         # a module's own tensor (ClassToken, PositionEmbedding, ...)
        for base, plain in ((full, True), (shortened(full), False), (full[:ID_ROOM], False)):
            for name in ("token", "embedding", "weight"):
                yield f"{base}.{name}", plain


def source_aliases(source: dict, target_keys) -> dict:
    """`source` with each key that names a module whose id was shortened renamed to the graph's key for it (in
    `target_keys`), when the graph has no key under its own name; other keys as they are. Matching it with
    layerloom.graph.weights.match_weights then also finds the blocks of long module paths."""
    target = set(target_keys)
    renamed: dict = {}
    taken = set(source)
    for key, value in source.items():
        found, plain = next(((k, p) for k, p in _long_ids(str(key)) if k in target and k not in taken),
                            (None, True))
        if plain:
            renamed[key] = value
        else:
            renamed[found] = value
            taken.add(found)
    return renamed
