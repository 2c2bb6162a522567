"""A model whose own code calls sys.exit() while an import runs it (torch.fx tracing it, the shape and batch
runs, torch.export, the training and fidelity checks): a failed import said in words (`ImportFailure`), as for
a file that exits as it loads or a constructor that exits (graph/importers/__init__.py), never the end of the
command with the model's exit status. Ctrl-C (KeyboardInterrupt) still interrupts."""
from __future__ import annotations

import functools
import inspect

from ..opaque import exit_text
from .report import ImportFailure


def exits_fail(run):
    """Decorate an import step whose parameter `model` is the person's module: SystemExit raised while it runs
    becomes "running Net's forward failed: it called sys.exit(0): ..."."""
    signature = inspect.signature(run)

    @functools.wraps(run)
    def running(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except SystemExit as exc:
            model = signature.bind(*args, **kwargs).arguments["model"]
            raise ImportFailure(f"running {type(model).__name__}'s forward failed: {exit_text(exc)}: the error is "
                                "in the model's own code; fix it there") from None
    return running
