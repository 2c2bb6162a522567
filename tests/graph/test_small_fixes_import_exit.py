"""`layerloom import model.py:Net` where Net's forward calls sys.exit(): the import runs the model (torch.fx traces
it, the shapes are recorded, torch.export takes over where torch.fx cannot, the training and fidelity checks run it
for real), and SystemExit raised there ended the command with the model's own status, silently: 0 ("imported")
for sys.exit(0), 3 ("written, but the outputs differ") for sys.exit(3). A file that exits as it loads and a
constructor that exits were already a failed import in words (test_cli_hostile_opaque.py); now so is a forward."""
import pytest

from layerloom.app.main import main
from layerloom.graph.importers import ImportFailure, import_source, load_source_module
from layerloom.graph.importers.fx_import import check_fidelity

NET = """import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)
    def forward(self, x):
{forward}
        return self.fc(x)
"""

EXITS = {
    # at once, as torch.fx traces it
    "raise SystemExit(0)": ("        raise SystemExit(0)", "it called sys.exit(0)"),
    # only in training mode: torch.fx traces it in eval mode; the training check runs it in training mode
    "sys.exit(3) while training": ("        if self.training:\n            sys.exit(3)", "it called sys.exit(3)"),
    # data-dependent control flow torch.fx cannot trace: torch.export (non-strict) runs it on fake tensors
    "sys.exit() under torch.export": ("        if x.shape[0] > 1000:\n            x = x * 2\n"
                                      "        if not isinstance(x, torch.fx.Proxy):\n            sys.exit()",
                                      "it called sys.exit()"),
}


@pytest.mark.parametrize("case", list(EXITS))
def test_a_forward_that_exits_fails_the_import_in_one_line_with_status_1(tmp_path, capsys, case):
    forward, words = EXITS[case]
    path = tmp_path / "model.py"
    path.write_text(NET.format(forward=forward))
    out = tmp_path / "m.loom.json"
    assert main(["import", f"{path}:Net", "--input-shape", "4", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"layerloom import: running Net's forward failed: {words}: the error is in the model's "
                            "own code; fix it there\n")
    assert "Traceback" not in captured.out and not out.exists() and not (tmp_path / "m.safetensors").exists()


def test_a_model_that_exits_in_the_fidelity_check_fails_it_in_words(tmp_path):
    """The fidelity check runs the source model once more against the graph: sys.exit() there is the model's."""
    path = tmp_path / "model.py"
    path.write_text(NET.format(forward="        pass"))
    result = import_source(f"{path}:Net", input_shape=(4,), fidelity=False)
    exiting = tmp_path / "exiting.py"
    exiting.write_text(NET.format(forward="        sys.exit('bye')"))
    model = load_source_module(f"{exiting}:Net")[0]
    with pytest.raises(ImportFailure) as caught:
        check_fidelity(result.doc, result.state, model, (4,))
    assert str(caught.value).startswith("running Net's forward failed: it called sys.exit('bye'): ")


def test_ctrl_c_in_a_forward_still_interrupts_the_import(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(NET.format(forward="        raise KeyboardInterrupt"))   # what Ctrl-C raises wherever it lands
    with pytest.raises(KeyboardInterrupt):
        import_source(f"{path}:Net", input_shape=(4,))
