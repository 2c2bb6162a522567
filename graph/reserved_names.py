"""Names a block id cannot take, known without importing torch (the window checks ids while it opens a
file, before torch has loaded).

A block id becomes an attribute of the compiled torch.fx.GraphModule and a name in its generated code,
so it must not be one of the module's own attributes (`training`, `forward`, `to`...) nor a global the
generated code uses. The lists below are torch's, written out; tests/graph/test_reserved_names.py
checks them against the installed torch, and once torch has been imported its own names are added too,
so a newer torch with more attributes is still covered.
"""
from __future__ import annotations

import builtins
import functools
import keyword
import sys

# dir() and vars() of torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph()), the names a block id
# could spell (a letter first), plus "meta", "training" and "shape_env"
MODULE_ATTRIBUTES = frozenset((
    'T_destination', 'add_module', 'add_submodule', 'apply', 'bfloat16', 'buffers', 'call_super_init',
    'children', 'code', 'compile', 'cpu', 'cuda', 'delete_all_unused_submodules', 'delete_submodule', 'double',
    'dump_patches', 'eval', 'extra_repr', 'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter',
    'get_submodule', 'graph', 'half', 'ipu', 'load_state_dict', 'meta', 'modules', 'mtia', 'named_buffers',
    'named_children', 'named_modules', 'named_parameters', 'parameters', 'print_readable', 'recompile',
    'register_backward_hook', 'register_buffer', 'register_forward_hook', 'register_forward_pre_hook',
    'register_full_backward_hook', 'register_full_backward_pre_hook', 'register_load_state_dict_post_hook',
    'register_load_state_dict_pre_hook', 'register_module', 'register_parameter',
    'register_state_dict_post_hook', 'register_state_dict_pre_hook', 'requires_grad_', 'set_extra_state',
    'set_submodule', 'shape_env', 'share_memory', 'state_dict', 'to', 'to_empty', 'to_folder', 'train',
    'training', 'type', 'xpu', 'zero_grad',
))

# torch.fx.graph._illegal_names beyond Python's builtins and keywords: the generated code's own globals
FX_GLOBALS = frozenset(('NoneType', 'device', 'fx_pytree', 'inf', 'nan', 'pytree', 'torch'))


def module_attributes() -> frozenset[str]:
    """Attributes a compiled model has (`training`, `graph`, `to`...): a block id would shadow one."""
    return MODULE_ATTRIBUTES | _live_attributes() if "torch.fx" in sys.modules else MODULE_ATTRIBUTES


def code_names() -> frozenset[str]:
    """Names torch.fx renames in generated code (builtins such as print and len, and its own globals
    such as inf and device), and `x`, the Input placeholder's name. "input" stays allowed: the Input
    block it names becomes the placeholder `x`."""
    names = set(vars(builtins)) | set(keyword.kwlist) | FX_GLOBALS | {"x"}
    if "torch.fx" in sys.modules:
        names |= _live_code_names()
    return frozenset(names - {"input"})


@functools.cache
def _live_attributes() -> frozenset[str]:
    import torch
    gm = torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())
    return frozenset(dir(torch.fx.GraphModule)) | frozenset(dir(gm)) | frozenset(vars(gm))


@functools.cache
def _live_code_names() -> frozenset[str]:
    try:
        from torch.fx.graph import _illegal_names
    except ImportError:       # a torch without it: the builtins are the bulk of it
        return frozenset()
    return frozenset(_illegal_names)
