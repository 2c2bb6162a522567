"""Two sweep-workers on one journal: processes that share a study take trials from it, none twice."""
import os
import subprocess
import sys

from layerloom.runtime.sweeps.study import open_storage

from .sweep_helpers import write_graph
from .sweep_running import wait_for

# Each process's trials are `layerloom train` behind a barrier: a trial starts once trials of two processes have
# asked to, so no process can run the whole study before another has taken a trial, however the machine is loaded.
AFTER_ANOTHER = """import os, runpy, sys, time
from pathlib import Path
barrier = Path(os.environ["SWEEP_TEST_BARRIER"])
(barrier / os.environ["SWEEP_TEST_OWNER"]).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
sys.argv = ["layerloom", "train", *sys.argv[1:]]
runpy.run_module("layerloom.app.main", run_name="__main__")
"""
RUN = ("import sys\nfrom layerloom.runtime.sweeps import trial\ntrial.TRAIN = [sys.argv[1]]\n"
       "from layerloom.app.main import main\nsys.exit(main(sys.argv[2:]))\n")


def test_two_sweep_workers_share_a_journal(tmp_path):
    # Adam leaves momentum alone: every trial trains alike, equal accuracy whichever process ran it
    graph = write_graph(tmp_path / "g.loom.json", {"name": "shared", "params": {"training.momentum": "uniform:0.5:0.9"},
                                                   "strategy": "random", "trials": 4}, {"epochs": 2})
    journal = tmp_path / "shared.journal"
    wrapper = tmp_path / "after_another.py"
    wrapper.write_text(AFTER_ANOTHER, encoding="utf-8")
    (tmp_path / "barrier").mkdir()

    def start(owner, argv):
        env = dict(os.environ, SWEEP_TEST_BARRIER=str(tmp_path / "barrier"), SWEEP_TEST_OWNER=owner)
        return subprocess.Popen([sys.executable, "-c", RUN, str(wrapper), *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    procs = [start("a", ["sweep", graph, "--storage", f"journal:{journal}", "--workers", "1",
                         "--out", str(tmp_path / "a")])]
    try:
        wait_for(lambda: journal.exists() and journal.stat().st_size > 0)
        for name in ("b", "c"):
            procs.append(start(name, ["sweep-worker", "--storage", f"journal:{journal}", "--workers", "1",
                                      "--out", str(tmp_path / name)]))
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode in (0, 1) for p in procs), outputs
    import optuna
    from layerloom.runtime.sweeps.study import load_study
    study, doc, spec = load_study(open_storage(f"journal:{journal}", tmp_path))
    trials = [t for t in study.get_trials() if not t.user_attrs.get("surplus")]
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["owner"] for t in trials}) >= 2, [t.user_attrs["owner"] for t in trials]
    assert len({t.value for t in trials}) == 1
    assert doc.name == "small" and spec.name == "shared"
