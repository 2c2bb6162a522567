"""The `layerloom` command: check, summary, code."""
import json
import subprocess
import sys

from layerloom.app.main import main
from layerloom.presets import preset_path

LENET = str(preset_path("lenet5"))


def test_check_clean(capsys):
    assert main(["check", LENET]) == 0
    assert "OK (14 blocks, 61,706 parameters)" in capsys.readouterr().out


def test_check_lists_problems(tmp_path, capsys):
    data = json.loads(preset_path("lenet5").read_text())
    data["blocks"][0]["params"]["shape"] = [1, 6, 6]
    path = tmp_path / "small.loom.json"
    path.write_text(json.dumps(data))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("conv2: Conv2d(out_channels=16, kernel_size=5) needs an input of at least 5×5")


def test_check_unreadable_file(tmp_path, capsys):
    path = tmp_path / "bad.loom.json"
    path.write_text("{nope")
    try:
        main(["check", str(path)])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("expected exit 2")
    assert "not valid JSON" in capsys.readouterr().err


def test_summary_table_and_json(capsys):
    assert main(["summary", LENET]) == 0
    out = capsys.readouterr().out
    assert "pool2     MaxPool2d  16×5×5" in out
    assert "Total params: 61,706" in out
    assert "Total MACs per sample: 416,520 (416.52K)" in out
    assert "Total FLOPs per sample: 833,040 (833.04K)" in out
    assert "MACs are multiply-adds, as papers and torchvision count them; FLOPs = 2 × MACs." in out
    assert main(["summary", LENET, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"blocks", "total_params", "total_macs", "total_flops", "not_computed", "diagnostics"}
    assert data["total_params"] == 61_706
    fc1 = [b for b in data["blocks"] if b["id"] == "fc1"][0]
    assert fc1 == {"id": "fc1", "kind": "Linear", "output_shape": [120], "params": 48_120,
                   "macs": 48_000, "flops": 96_000}
    assert (data["total_macs"], data["total_flops"], data["not_computed"]) == (416_520, 833_040, 0)
    assert data["diagnostics"] == []


def test_code_is_runnable_pytorch(capsys, tmp_path):
    assert main(["code", LENET]) == 0
    code = capsys.readouterr().out
    assert "class LeNet5(nn.Module)" in code
    assert "self.fc1 = nn.Linear(in_features=400, out_features=120)" in code
    assert "= None" not in code
    namespace = {}
    exec(compile(code, "generated", "exec"), namespace)   # the printed code is a working module
    import torch
    model = namespace["LeNet5"]()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 61_706


def test_code_builds_auto_parameters_for_the_data_set_the_graph_names(capsys, tmp_path):
    """fc3's out_features "auto" with `figures` named for training: the printed code has the 12 classes
    that summary shows and training builds, not the fallback 10."""
    import torch

    from layerloom.runtime.data import dataset_info
    data = json.loads(preset_path("lenet5").read_text())
    next(b for b in data["blocks"] if b["id"] == "fc3")["params"]["out_features"] = "auto"
    data.setdefault("training", {})["dataset"] = "figures"
    path = tmp_path / "figures.loom.json"
    path.write_text(json.dumps(data))
    assert main(["summary", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert next(b for b in summary["blocks"] if b["id"] == "fc3")["output_shape"] == [12]
    assert main(["code", str(path)]) == 0
    namespace = {}
    exec(compile(capsys.readouterr().out, "generated", "exec"), namespace)
    model = namespace["LeNet5"]()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, dataset_info("figures").num_classes) == (2, 12)


def test_console_script_runs_in_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "layerloom.app.main", "check", LENET],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout
