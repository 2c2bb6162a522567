"""A tiny graph file for sweep tests: one strided conv and a Linear on mnist-sample, quick to train; and a
trial that does not stop when asked."""
import json


def small_graph(sweep=None, training=None) -> dict:
    data = {
        "format": "layerloom.graph", "version": 1, "name": "small",
        "blocks": [
            {"id": "input", "kind": "Input", "params": {"shape": [1, 28, 28]}},
            {"id": "conv1", "kind": "Conv2d", "params": {"out_channels": 4, "kernel_size": 3, "stride": 2}},
            {"id": "relu1", "kind": "ReLU"},
            {"id": "flatten1", "kind": "Flatten"},
            {"id": "fc1", "kind": "Linear", "params": {"out_features": 10}},
            {"id": "output", "kind": "Output"}],
        "edges": [{"from": "input", "to": "conv1"}, {"from": "conv1", "to": "relu1"},
                  {"from": "relu1", "to": "flatten1"}, {"from": "flatten1", "to": "fc1"},
                  {"from": "fc1", "to": "output"}],
        "training": {"dataset": "mnist-sample", "optimizer": "adam", "lr": 0.003, "batch_size": 256, "epochs": 1,
                     **(training or {})},
    }
    if sweep is not None:
        data["sweep"] = sweep
    return data


def write_graph(path, sweep=None, training=None) -> str:
    path.write_text(json.dumps(small_graph(sweep, training)), encoding="utf-8")
    return str(path)


STUCK_TRIAL = """import json, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)     # stuck where a request to stop cannot reach it (a hung read)
print(json.dumps({"type": "started", "run_dir": None, "epochs": 1}), flush=True)
time.sleep(300)
"""


def write_stuck_trial(path):
    """A script that stands in for `layerloom train` (runtime.sweeps.trial.TRAIN = [path]): it says it
    started, then ignores Ctrl-C (SIGINT) until it is killed."""
    path.write_text(STUCK_TRIAL, encoding="utf-8")
    return path
