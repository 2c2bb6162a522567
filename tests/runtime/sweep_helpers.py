"""A tiny graph file for sweep tests: one strided conv and a Linear on mnist-sample, quick to train."""
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
