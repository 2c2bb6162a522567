"""The fork server's preload (forked.py): what a trial (`layerloom train`) imports before its first step, imported
once by the interpreter that forks the sweep's trials so that no trial imports it again: PyTorch, TorchDynamo (an
optimizer's first step imports it), the data sets, the preflight check with analysis, the trainer and the command
line. Importing it costs seconds; nothing but the fork server needs to.

In the fork server it first lets go of the coordinator's stdout and stderr, which the server inherited: each
trial writes to pipes of its own, and a server holding them would keep a reader of the coordinator's output (a
pipe, `| less`, a test) waiting until the server exits, seconds after a sweep refused at its start. Imported
anywhere else (a walk over Layerloom's modules) it leaves them alone."""
import os
import sys
from multiprocessing import forkserver


def _imported_by_the_fork_server() -> bool:
    """Whether multiprocessing's fork server is importing this module as its preload."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


if _imported_by_the_fork_server():
    _null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(_null, 1)
    os.dup2(_null, 2)
    os.close(_null)

from layerloom.graph.lazy_torch import import_dynamo  # noqa: E402
from layerloom.runtime import cli, data_choice, health, preflight, train_cli, trainer  # noqa: E402,F401

import_dynamo()
