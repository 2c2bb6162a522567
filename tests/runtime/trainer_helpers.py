import threading

import torch

from layerloom.graph import GraphDocument, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import DataBundle, InMemorySplit, load_dataset

_MNIST = {}


def mnist_small(n_train=512, n_val=256):
    """A slice of the real mnist-sample set (loaded once per session)."""
    if "b" not in _MNIST:
        _MNIST["b"] = load_dataset("mnist-sample")
    b = _MNIST["b"]
    return DataBundle(b.info, InMemorySplit(b.train.images[:n_train], b.train.labels[:n_train]),
                      InMemorySplit(b.val.images[:n_val], b.val.labels[:n_val]))


def lenet():
    return load_graph(preset_path("lenet5"))


def tiny_linear(name: str = "tiny") -> GraphDocument:
    """Input [4] -> Linear(3) -> Output: the smallest graph with weights."""
    doc = GraphDocument(name)
    last = doc.add_block("Input", {"shape": [4]})
    for kind, params in (("Linear", {"out_features": 3}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    return doc


def small_net(dropout=True):
    """A fast MNIST net with dropout (so RNG state matters for exact resume)."""
    doc = GraphDocument("small")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    specs = [("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}), ("ReLU", {}), ("Flatten", {})]
    if dropout:
        specs.append(("Dropout", {"p": 0.2}))
    specs.append(("Linear", {"out_features": 10}))
    for kind, p in specs:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
    doc.connect(last, doc.add_block("Output"))
    return doc


class Recorder:
    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of(self, kind):
        return [e for e in self.events if e["type"] == kind]

    def wait_for(self, predicate, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: any(predicate(e) for e in self.events), timeout), \
                [e["type"] for e in self.events][-20:]


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def ctrl_c_after(args: list[str], ready, pause: float = 0.0) -> tuple[int, str, str]:
    """Run `layerloom ARGS` in its own process, press Ctrl-C (SIGINT) once a line of its output satisfies
    `ready` (and `pause` seconds later); (exit code, stdout, stderr)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-m", "layerloom.app.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        line, deadline = "", time.monotonic() + 120
        while not ready(line) and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert ready(line), line
        time.sleep(pause)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err
