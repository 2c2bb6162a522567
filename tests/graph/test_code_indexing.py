"""Generated code writes indexing as a person would (`x[:, -1]`), and still computes what fx computes."""
import pytest
import torch

from layerloom.graph import compile_graph, generated_code, load_graph
from layerloom.graph.compiler import class_name_for
from layerloom.presets import preset_path


@pytest.mark.parametrize("name", ["seq_mnist_lstm", "rnn_classifier"])
def test_last_step_reads_as_slicing_and_runs_like_the_graph(name):
    doc = load_graph(preset_path(name))
    code = generated_code(doc)
    assert "slice(" not in code
    block = "lstm1" if "lstm" in name else "rnn1"
    assert f"{block} = {block}_sequence[:, -1]" in code
    namespace = {}
    exec(compile(code, "generated", "exec"), namespace)
    model = namespace[class_name_for(doc.name)]().eval()
    gm = compile_graph(doc, seed=0).eval()
    model.load_state_dict(gm.state_dict())
    x = torch.rand(3, 28, 28)
    torch.testing.assert_close(model(x), gm(x), rtol=0, atol=0)
