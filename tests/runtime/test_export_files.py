"""Exported files: 0644 like the rest, archives with a clean root folder, class names for every output,
and no path of the exporting machine in the metadata."""
import json
import stat
import zipfile

from layerloom.presets import preset_path
from layerloom.runtime.export import export_model


def test_files_modes_archive_roots_and_class_names(tmp_path):
    graph = json.loads(preset_path("lenet5").read_text())
    fc3 = [b for b in graph["blocks"] if b["id"] == "fc3"][0]
    fc3["params"]["out_features"] = 12               # more outputs than mnist-sample's 10 classes
    path = tmp_path / "lenet12.loom.json"
    path.write_text(json.dumps(graph))
    out = tmp_path / "out"
    src, results = export_model(path, ["safetensors", "state-dict", "pt2", "torchscript"], out)
    assert all(r.verified for r in results), [r.line() for r in results]
    names = src.metadata["class_names"]
    assert names == [str(d) for d in range(10)] + ["output 10", "output 11"]
    assert str(tmp_path) not in json.dumps(src.metadata) and src.metadata["source"] == "lenet12.loom.json"
    for r in results:
        assert stat.S_IMODE(r.path.stat().st_mode) == 0o644, r.path
        if r.format != "safetensors":
            roots = {n.split("/")[0] for n in zipfile.ZipFile(r.path).namelist()}
            assert roots == {r.path.stem}, (r.format, roots)      # not a temporary file's name
    assert sorted(p.name for p in out.iterdir()) == sorted([*(r.path.name for r in results), "model.json"])


def test_an_imported_graph_exports_with_its_weights_and_says_so(tmp_path):
    """Exporting an imported .loom.json warned "the export carries freshly initialised weights", while it
    carried the imported model's weights (the file the graph names)."""
    import numpy as np
    import onnxruntime
    import torch

    from layerloom.graph.importers import import_source, save_import

    (tmp_path / "tiny_model.py").write_text("from torch import nn\n\n\ndef build():\n"
                                           "    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))\n")
    torch.manual_seed(0)
    result = import_source(f"{tmp_path / 'tiny_model.py'}:build", (6,))
    model = result.model.eval()
    save_import(result, tmp_path / "tiny.loom.json")
    src, [onnx] = export_model(tmp_path / "tiny.loom.json", ["onnx"], tmp_path / "out")
    assert src.warnings == ["this graph has not been trained by Layerloom: the export carries the weights of "
                            "tiny.safetensors, the weights file the graph names (4 tensors)"]
    x = torch.rand(2, 6, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(str(onnx.path))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.allclose(got, model(x).detach().numpy(), atol=1e-6)       # the imported model's own outputs
