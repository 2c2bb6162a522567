"""Rule 1: the graph core and the runtime never load Qt, on import or in use (compiling a graph, loading a data
set and building its transforms)."""
import subprocess
import sys

CODE = """
import sys
import layerloom.graph, layerloom.runtime, layerloom.runtime.cli
import layerloom.graph.layout, layerloom.graph.summary
from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.presets import preset_path
compile_graph(load_graph(preset_path("lenet5")))
import layerloom.runtime.data as data
data.load_dataset("mnist-sample")
data.build_transforms(data.dataset_info("shapes"), augment={"hflip": True}, normalize=True, train=True)
import pkgutil, importlib
for pkg in ("layerloom.graph", "layerloom.runtime"):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6"))
print("QT:" + ",".join(bad))
"""


def test_graph_and_runtime_do_not_import_qt():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "QT:"
