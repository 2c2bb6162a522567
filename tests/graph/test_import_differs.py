"""An import whose graph does not compute what its source does is written, for a look at it, but cannot pass
for a faithful one: the command line exits 3 with the warning on stderr, and the report's JSON carries it."""
from __future__ import annotations

import json

import torch

from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import import_source, report_json
from layerloom.runtime.cli import run

NOISY = """
import torch
from torch import nn


class Noise(nn.Module):
    def forward(self, x):
        return x + torch.rand_like(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.noise = nn.Linear(4, 3), Noise()

    def forward(self, x):
        return self.noise(self.fc(x))


class Calm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)
"""


def test_an_import_whose_outputs_differ_exits_3_with_the_warning_and_its_json_says_so(tmp_path, capsys):
    (tmp_path / "noisy.py").write_text(NOISY)
    out = tmp_path / "noisy.loom.json"
    code = run(["import", f"{tmp_path / 'noisy.py'}:Net", "--out", str(out), "--input-shape", "4"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "warning: the imported graph's outputs differ from the source's by up to" in err and "(exit status 3)" in err
    assert "noise" in load_graph(out).blocks          # written, so the person can look at it
    # the call named as the source writes it, not as torch's internals name it (_VariableFunctionsClass.rand_like)
    assert load_graph(out).blocks["noise"].params["origin"].endswith("module noise: torch.rand_like has no block")
    result = import_source(f"{tmp_path / 'noisy.py'}:Net", (4,))
    assert result.report.notes == [
        "the graph gives another result each time it runs on the same input, as the source does: an Opaque block "
        "(noise: Noise) draws random numbers also in evaluation, so its outputs cannot match the source's run for "
        "run; make that part random only while training (if self.training) if that is not meant"]
    carried = json.loads(report_json(result))
    assert carried["warning"] == result.report.fidelity_warning() != ""
    code = run(["import", f"{tmp_path / 'noisy.py'}:Calm", "--out", str(tmp_path / "calm.loom.json"),
                "--input-shape", "4"])
    assert code == 0 and capsys.readouterr().err == ""
    assert json.loads(report_json(import_source(f"{tmp_path / 'noisy.py'}:Calm", (4,))))["warning"] == ""


def test_weights_that_do_not_fit_the_blocks_one_for_one_are_a_warning(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    result = import_source(f"{tmp_path / 'noisy.py'}:Calm", (4,))
    from layerloom.graph.importers.fx_import import check_fidelity
    spare = {**result.state, "fc.extra": torch.zeros(1)}
    check_fidelity(result.doc, spare, result.model, (4,), result.report)
    assert result.report.fidelity["strict_load"] is False
    assert result.report.fidelity_warning().startswith("the imported weights do not fit the graph's blocks one for one")
    assert result.report.to_dict()["warning"] == result.report.fidelity_warning()
