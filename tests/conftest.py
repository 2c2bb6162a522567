import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs in tests must repeat bit for bit: a fixed thread count instead of the measured choice
# (tests/runtime/test_threads.py exercises the measuring).
os.environ.setdefault("LAYERLOOM_THREADS", "1")
# The code a test allows Opaque blocks to run is remembered in a record of the test session's own, not in the
# person's (graph/trust.py); commands the tests start inherit it.
os.environ.setdefault("LAYERLOOM_TRUST_RECORD", os.path.join(tempfile.mkdtemp(prefix="layerloom-trust-"),
                                                             "trusted-code.json"))
# With one test process per core (make test), each process and the commands it starts compute with one
# thread: two OpenMP threads per process on a core another process keeps busy wait on each other, and a
# step then takes many times as long.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Analysis loaded up front: windows built by the tests analyse every change as it happens, as the app
# does once its background loading has finished (tests/app/test_startup.py checks that loading, the
# window before torch and the "analysing…" state, in fresh processes).
import layerloom.graph.analysis  # noqa: E402,F401
# torch._dynamo too: the window imports it in a background job right after the first shapes (its memory
# estimate needs it), and every job imports it first, one thread at a time (graph/lazy_torch.py,
# tests/runtime/test_dynamo_import_lock.py), so without it the first job of each test process would wait
# for it.
import torch._dynamo  # noqa: E402,F401


def _train_lenet(base):
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.health import HealthCollector
    from layerloom.runtime.trainer import Trainer
    trainer = Trainer(load_graph(preset_path("lenet5")), {"epochs": 4, "max_steps": 250, "batch_size": 64,
                                                          "seed": 0}, runs_base=base, extensions=[HealthCollector()])
    summary = trainer.run()
    assert summary is not None and summary["status"] == "finished", summary
    return trainer.run_dir


@pytest.fixture(scope="session")
def trained_lenet(tmp_path_factory):
    """A LeNet-5 run trained for 250 steps on mnist-sample (about 96 % accurate, health.csv every 50
    steps); one per test session, shared by its test processes (make test runs several).

    Treat it as read-only: several test modules, in several processes, explain and inspect it.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _train_lenet(tmp_path_factory.mktemp("trained-lenet"))
    from filelock import FileLock      # torch's own dependency
    shared = tmp_path_factory.getbasetemp().parent / "trained-lenet"      # the folder every process of the run shares
    with FileLock(f"{shared}.lock"):
        made = shared / "run-dir.txt"
        if not made.exists():          # the first process that needs it trains it; the others wait, then read it
            run_dir = _train_lenet(shared)
            made.write_text(str(run_dir), encoding="utf-8")
        return Path(made.read_text(encoding="utf-8"))
