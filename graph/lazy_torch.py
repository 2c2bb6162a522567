"""torch and torch.nn's classes named without importing torch.

The block registry, the document and the file format are what the window needs to draw a graph; they
must load in a few milliseconds, before torch (about a second and a half of imports). The registry
therefore names each kind's module class with a `ModuleRef`, which imports the class the first time
something builds, inspects or calls it (analysis, the compiler, an importer), and `torch` here is a
stand-in that imports the real package on first attribute access (e.g. `torch.cat` inside a forward).

    from .lazy_torch import nn, torch
    nn.Conv2d                  # ModuleRef("torch.nn", "Conv2d"): no import yet
    nn.Conv2d(1, 6, 5)         # imports torch.nn, then constructs torch.nn.Conv2d(1, 6, 5)
"""
from __future__ import annotations

import importlib
import inspect
import sys


class ModuleRef:
    """Stands for the callable `name` of module `where` (a torch.nn class, or a Layerloom factory) and
    behaves like it once called: it is imported on first use."""

    def __init__(self, where: str, name: str):
        self.where, self.__name__, self.__qualname__ = where, name, name
        self._target = None

    def resolve(self):
        if self._target is None:
            self._target = getattr(importlib.import_module(self.where), self.__name__)
        return self._target

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:    # inspect.signature(ref) is the class's signature
        return inspect.signature(self.resolve())

    def __eq__(self, other) -> bool:
        if isinstance(other, ModuleRef):
            return (self.where, self.__name__) == (other.where, other.__name__)
        return self._target is not None and other is self._target

    def __hash__(self) -> int:
        return hash((self.where, self.__name__))

    def __repr__(self) -> str:
        return f"ModuleRef({self.where}.{self.__name__})"


def resolved(factory):
    """The class or function itself for a ModuleRef (anything else is returned as it is)."""
    return factory.resolve() if isinstance(factory, ModuleRef) else factory


class _NN:
    """`nn.Conv2d` is ModuleRef("torch.nn", "Conv2d")."""

    def __getattr__(self, name: str) -> ModuleRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return ModuleRef("torch.nn", name)


class _Torch:
    """`torch.cat` imports torch and returns torch.cat."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module("torch"), name)


nn = _NN()
torch = _Torch()


def torch_loaded() -> bool:
    """Whether torch has been imported in this process (by anything)."""
    return "torch" in sys.modules
