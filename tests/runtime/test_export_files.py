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
