"""Two sweep-workers on one journal: processes that share a study take trials from it, none twice."""
import subprocess

from layerloom.runtime.sweeps.study import open_storage

from .sweep_helpers import write_graph
from .sweep_running import CLI, wait_for

def test_two_sweep_workers_share_a_journal(tmp_path):
    # Adam leaves momentum alone: every trial trains alike, equal accuracy whichever process ran it
    # Four trials of two epochs, about a second each. The workers, started once the study exists, ask for their
    # first trials within seconds (importing torch to check the data set), while the coordinator's first trial
    # still waits for its fork server's imports or runs (seen here: the coordinator ran trials 0 and 3, the
    # workers 1 and 2).
    graph = write_graph(tmp_path / "g.loom.json", {"name": "shared", "params": {"training.momentum": "uniform:0.5:0.9"},
                                                   "strategy": "random", "trials": 4}, {"epochs": 2})
    journal = tmp_path / "shared.journal"
    coordinator = CLI + ["sweep", graph, "--storage", f"journal:{journal}", "--workers", "1",
                         "--out", str(tmp_path / "a")]
    procs = [subprocess.Popen(coordinator, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    try:
        wait_for(lambda: journal.exists() and journal.stat().st_size > 0)
        for name in ("b", "c"):
            procs.append(subprocess.Popen(CLI + ["sweep-worker", "--storage", f"journal:{journal}", "--workers", "1",
                                                 "--out", str(tmp_path / name)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
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
