"""A 2 × 2 grid sweep of LeNet-5 on mnist-sample through `layerloom sweep`: four trials, each trained
with its own values (read back from its run folder), and the best one picked by the objective."""
import itertools
import json
from pathlib import Path

import pytest
import torch

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.runs import read_json

LRS = (0.0003, 0.003)
WIDTHS = (60, 120)


def _linear_params(i, o) -> int:
    return sum(p.numel() for p in torch.nn.Linear(i, o).parameters())


def test_a_2x2_grid_on_lenet5_trains_four_trials_with_their_own_values_and_picks_the_best(tmp_path, capsys):
    graph = json.loads(Path(preset_path("lenet5")).read_text(encoding="utf-8"))
    graph["training"] = {"dataset": "mnist-sample", "dataset_options": {"train_count": 300}, "optimizer": "adam",
                         "batch_size": 100, "epochs": 1, "seed": 0}
    graph.pop("sweep", None)
    path = tmp_path / "lenet.loom.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    code = main(["sweep", str(path), "--param", f"training.lr=choice:{','.join(map(str, LRS))}",
                 "--param", f"blocks.fc1.params.out_features=choice:{','.join(map(str, WIDTHS))}",
                 "--strategy", "grid", "--workers", "2", "--name", "grid", "--out", str(tmp_path / "sweeps")])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = json.loads((tmp_path / "sweeps" / "grid" / "results.json").read_text(encoding="utf-8"))
    assert len(rows) == 4 and all(r["state"] == "complete" for r in rows), rows
    # every point of the grid exactly once
    seen = sorted((r["params"]["training.lr"], r["params"]["blocks.fc1.params.out_features"]) for r in rows)
    assert seen == sorted(itertools.product(LRS, WIDTHS))
    for r in rows:
        run = Path(r["run"])
        lr, width = r["params"]["training.lr"], r["params"]["blocks.fc1.params.out_features"]
        # the trial trained with its own values: its run folder's settings and graph say so
        assert read_json(run / "config.json")["lr"] == pytest.approx(lr)
        fc1 = next(b for b in read_json(run / "graph.loom.json")["blocks"] if b["id"] == "fc1")
        assert fc1["params"]["out_features"] == width
        summary = read_json(run / "summary.json")
        assert summary["status"] == "finished" and r["value"] == pytest.approx(summary["val_accuracy"])
    # the parameter counts follow the width as torch's own Linear layers count them
    count = {r["params"]["blocks.fc1.params.out_features"]: r["params_count"] for r in rows}
    assert count[120] - count[60] == (_linear_params(400, 120) + _linear_params(120, 84)
                                      - _linear_params(400, 60) - _linear_params(60, 84))
    # the best is the trial with the highest validation accuracy, and the CLI says which
    best = max(rows, key=lambda r: r["value"])
    assert f"best: trial {best['number']}, final val_accuracy {best['value']:.4f}" in out
    # the table shows that same final value beside the best epoch's, each under its own name
    from layerloom.runtime.sweeps.results import table
    headers, body = table(rows, ["training.lr"])
    final, best_epoch = headers.index("final"), headers.index("best")
    assert [line[final] for line in body] == [r["value"] for r in rows]
    assert [line[best_epoch] for line in body] == [r["best_value"] for r in rows]
    [header] = [line.split() for line in out.splitlines() if line.split()[:2] == ["trial", "state"]]
    assert header[-6:] == ["final", "best", "epoch", "seconds", "params", "MACs"]
    assert len({r["value"] for r in rows}) > 1          # the values really differ between trials
