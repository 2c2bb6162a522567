"""Helpers for the sweep tests that run real trials: a SweepRunner on the tiny sweep graph, and waiting on
a sweep's results.json."""
import json
import sys
import time

from layerloom.graph import load_graph
from layerloom.runtime.sweeps.coordinator import SweepRunner
from layerloom.runtime.sweeps.spec import parse_section
from layerloom.runtime.sweeps.study import create_study, open_storage

from .sweep_helpers import write_graph

CLI = [sys.executable, "-m", "layerloom.app.main"]


def sweep_runner(tmp_path, sweep, training=None, data_checked=False):
    """A one-worker SweepRunner for `sweep` on the tiny graph, its study and its sweep folder."""
    doc = load_graph(write_graph(tmp_path / "g.loom.json", sweep, training))
    spec = parse_section(doc)
    folder = tmp_path / "sweeps" / spec.name
    study = create_study(doc, spec, open_storage(None, folder))
    return SweepRunner(study, doc, spec, folder, threads=1, data_checked=data_checked), study, folder


def wait_for(predicate, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def result_rows(folder):
    """The rows of a sweep folder's results.json; none while it is not written yet."""
    try:
        return json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        return []


def running_trial(folder):
    return next((r for r in result_rows(folder) if r["state"] == "running" and r["run"]), None)
