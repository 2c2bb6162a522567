"""torch imports torch._dynamo lazily, at its first use, and two threads doing that at once can fail with
"partially initialized module". Every path by which Layerloom's threads first use it (an optimizer's
first step, the memory tracker, a background job) imports it through `lazy_torch.import_dynamo`, one
thread at a time: each test checks, in a process that has not imported it yet, that the import happens while
that lock is held. One interpreter imports torch, then forks a process for each path: torch._dynamo is
imported in none of them until that path's first use."""
import subprocess
import sys
import textwrap

import pytest

WATCH = textwrap.dedent("""
    import sys, threading
    import torch
    assert "torch._dynamo" not in sys.modules
    from layerloom.graph import lazy_torch
    held = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch._dynamo":
                held.append(lazy_torch._DYNAMO_LOCK.locked())

    sys.meta_path.insert(0, Watch())
""")

PATHS = {
    "optimizer step": """
        from layerloom.runtime.config import TrainConfig
        from layerloom.runtime.optimization import make_optimizer
        m = torch.nn.Linear(3, 2)
        opt = make_optimizer(TrainConfig.from_sources({}, {"optimizer": "adam"}), m.parameters())
        m(torch.randn(4, 3)).sum().backward()
        opt.step()
    """,
    "memory estimate": """
        from layerloom.graph import load_graph
        from layerloom.presets import preset_path
        from layerloom.runtime.memory import estimate_training_memory
        assert estimate_training_memory(load_graph(preset_path("lenet5")), 4).peak_bytes > 0
    """,
    "background job": """
        from PySide6.QtCore import QCoreApplication
        from layerloom.app.background import Job
        app = QCoreApplication([])

        def step():
            m = torch.nn.Linear(3, 2)
            opt = torch.optim.SGD(m.parameters(), lr=0.1)
            m(torch.randn(4, 3)).sum().backward()
            opt.step()
            return "stepped"

        job = Job(step)
        job.start()
        assert job.wait(60_000) and job.result == "stepped", job.error
    """,
}


FORK_EACH = textwrap.dedent("""
    import os, traceback
    for name, code in PATHS:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                exec(code)
                print(name + " held:", held, flush=True)
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)
            os._exit(0)
        print(name + " exit:", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
""")


@pytest.fixture(scope="module")
def first_uses():
    """The output and errors of the forked processes, one for each path."""
    paths = [(name, textwrap.dedent(code)) for name, code in sorted(PATHS.items())]
    code = WATCH + f"PATHS = {paths!r}\n" + FORK_EACH
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, out.stderr


@pytest.mark.parametrize("path", sorted(PATHS))
def test_first_use_imports_dynamo_under_the_lock(first_uses, path):
    stdout, stderr = first_uses
    assert f"{path} exit: 0" in stdout, stderr[-2000:]
    assert f"{path} held: [True]" in stdout, stdout      # imported once, and with the lock held
