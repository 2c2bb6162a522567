"""A damaged or crafted file in a run folder (JSON nested thousands deep, a process id no process has, values
of the wrong type, a health.csv naming thousands of blocks and steps) is passed over or said in words: it never
raises out of the readers the Runs tab, the lessons and resuming use, and never stops the other runs."""
import json
import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph.fileformat import MAX_BLOCKS
from layerloom.runtime import health, lessons, processes, runs
from layerloom.runtime.health import HealthCollector, read_health, skipped_note
from layerloom.runtime.health_indicators import FIELDS, read_summary
from layerloom.runtime.processes import OWNER, claim_run, trained_elsewhere
from layerloom.runtime.runs import read_json, write_json
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net

DEEP = "[" * 100_000 + "]" * 100_000          # deeper than Python's JSON parser goes


def write_run(base, name, config=None, graph=None, summary=None):
    run = base / name
    (run / "checkpoints").mkdir(parents=True)
    write_json(run / "config.json", {"dataset": "mnist-sample", "dataset_options": {}} if config is None else config)
    write_json(run / "graph.loom.json", {"name": "g", "blocks": [{"id": "c", "kind": "Conv2d"}]}
               if graph is None else graph)
    write_json(run / "summary.json", {"status": "finished", "val_accuracy": 0.95} if summary is None else summary)
    (run / "metrics.csv").write_text("epoch,step,train_loss,val_loss,val_accuracy,lr,seconds\n", encoding="utf-8")
    return run


# -- the runs list -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["config.json", "graph.loom.json"])
def test_a_run_file_nested_too_deep_leaves_that_run_out_with_a_line_naming_the_file(tmp_path, name):
    write_run(tmp_path, "20260101-000000-good")
    bad = write_run(tmp_path, "20260102-000000-bad")
    (bad / name).write_text(DEEP, encoding="utf-8")
    damaged = []
    assert [r.name for r in runs.list_runs(tmp_path, damaged=damaged)] == ["20260101-000000-good"]
    assert damaged == [f"20260102-000000-bad/{name} is damaged (its JSON is nested too deeply to read), so the run "
                       "is left out of the list: put back a good copy of the file, or delete the run's folder if "
                       "the run is not needed"]
    with pytest.raises(ValueError, match=f"^{name} is damaged: its JSON is nested too deeply to read$"):
        read_json(bad / name)


def test_a_summary_nested_too_deep_reads_as_a_run_without_an_end(tmp_path):
    run = write_run(tmp_path, "20260101-000000-r")
    (run / "summary.json").write_text(DEEP, encoding="utf-8")
    damaged = []
    [info] = runs.list_runs(tmp_path, damaged=damaged)
    assert info.summary is None and damaged == []


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                max_size=3), max_leaves=8)


@settings(derandomize=True, deadline=None, database=None, max_examples=40)
@given(config=st.one_of(JSON.map(json.dumps), st.just(DEEP), st.binary(max_size=30).map(lambda b: b.decode("latin-1"))),
       graph=st.one_of(JSON.map(json.dumps), st.just(DEEP)))
def test_any_config_or_graph_file_leaves_the_other_runs_listed(tmp_path_factory, config, graph):
    base = tmp_path_factory.mktemp("runs")
    write_run(base, "20260101-000000-good")
    bad = write_run(base, "20260102-000000-other")
    (bad / "config.json").write_text(config, encoding="utf-8")
    (bad / "graph.loom.json").write_text(graph, encoding="utf-8")
    damaged = []
    names = [r.name for r in runs.list_runs(base, damaged=damaged)]
    assert names[-1] == "20260101-000000-good"
    listed = names == ["20260102-000000-other", "20260101-000000-good"]
    assert listed != bool(damaged)                       # the other run is listed, or a line says why not
    assert all(line.startswith("20260102-000000-other/") and "Error" not in line for line in damaged)


def test_a_health_json_nested_too_deep_reads_as_no_health(tmp_path):
    (tmp_path / "health.json").write_text(DEEP, encoding="utf-8")
    assert read_summary(tmp_path) is None


# -- who trains a run ------------------------------------------------------------------------------------
def _owner(run, text):
    (run / OWNER).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("pid", ["0", "-1", "true", "1.0", '"12"', "99999999999999999999", "1e400", "4294967296",
                                 "null"])
def test_a_pid_that_is_no_process_id_is_no_trainer_and_a_damaged_file(tmp_path, pid):
    _owner(tmp_path, f'{{"pid": {pid}, "started": 1}}')
    assert trained_elsewhere(tmp_path) is None
    assert processes.resume_refusal(tmp_path) == (
        f"{tmp_path.name}/training.json is damaged (its process id is not a whole number from 1 to 2147483647); "
        "delete it if no process trains this run")


@pytest.mark.parametrize("text, why", [(DEEP, "its JSON is nested too deeply to read"),
                                       ('{"pid": 12', "it is not the JSON a trainer writes"),
                                       ("[]", "it is not the JSON a trainer writes"),
                                       ('{"pid": 1, "host": 5}', "its host is not a machine's name")])
def test_a_damaged_training_json_is_said_in_words(tmp_path, text, why):
    _owner(tmp_path, text)
    assert trained_elsewhere(tmp_path) is None
    assert processes.resume_refusal(tmp_path) == (
        f"{tmp_path.name}/training.json is damaged ({why}); delete it if no process trains this run")


@settings(derandomize=True, deadline=None, database=None, max_examples=80)
@given(pid=JSON | st.integers(min_value=-2**70, max_value=2**70), started=JSON)
def test_any_pid_and_start_read_without_raising(tmp_path_factory, pid, started):
    run = tmp_path_factory.mktemp("run")
    _owner(run, json.dumps({"pid": pid, "started": started}))
    other = trained_elsewhere(run)
    assert other is None or (type(pid) is int and 0 < pid < 2**31 and other == pid)
    refusal = processes.resume_refusal(run)
    assert refusal is None or refusal.startswith(run.name) and "Error" not in refusal


def test_a_run_trained_on_another_machine_names_that_machine(tmp_path):
    _owner(tmp_path, json.dumps({"pid": 1, "started": 0, "host": "other-box"}))
    assert trained_elsewhere(tmp_path) == 1 and str(trained_elsewhere(tmp_path)) == "1 on other-box"
    assert processes.resume_refusal(tmp_path) == (
        f"{tmp_path.name} was being trained on other-box; delete {tmp_path.name}/training.json if that run has ended")
    _owner(tmp_path, json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))      # this machine
    assert trained_elsewhere(tmp_path) == os.getppid()
    claim_run(tmp_path)
    assert json.loads((tmp_path / OWNER).read_text())["host"] == socket.gethostname()
    assert trained_elsewhere(tmp_path) is None and processes.resume_refusal(tmp_path) is None


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    t = Trainer(small_net(), {"max_steps": 2}, None, runs_base=tmp_path_factory.mktemp("runs"),
                data=mnist_small(128, 64), extensions=[HealthCollector(every=1)])
    assert t.run() is not None
    return t.run_dir


def test_resuming_with_a_damaged_training_json_is_refused_in_words_and_the_run_is_not_marked_failed(finished_run):
    before = (finished_run / "summary.json").read_text()
    _owner(finished_run, '{"pid": 99999999999999999999}')
    events = []
    try:
        assert Trainer(None, {"max_steps": 3}, events.append, resume=str(finished_run),
                       data=mnist_small(128, 64)).run() is None
    finally:
        (finished_run / OWNER).unlink()
    [failed] = [e for e in events if e["type"] == "failed"]
    assert failed["message"] == (f"{finished_run.name}/training.json is damaged (its process id is not a whole "
                                 "number from 1 to 2147483647); delete it if no process trains this run")
    assert (finished_run / "summary.json").read_text() == before


def test_resuming_with_a_health_json_nested_too_deep_goes_on(finished_run):
    (finished_run / "health.json").write_text(DEEP, encoding="utf-8")
    summary = Trainer(None, {"max_steps": 3}, None, resume=str(finished_run), data=mnist_small(128, 64),
                      extensions=[HealthCollector(every=1)]).run()
    assert summary is not None and summary["status"] == "finished" and summary["steps"] == 3
    assert read_summary(finished_run)["samples"] >= 1


# -- lessons ---------------------------------------------------------------------------------------------
RUN_CHECK = {"run": {"kinds": ["Conv2d"], "min_val_accuracy": 0.9, "options": {"train_count": 64}}}


@pytest.mark.parametrize("config, graph, summary", [
    (None, None, {"status": "finished", "val_accuracy": "high"}),
    ({"dataset": "mnist-sample", "dataset_options": ["a"]}, None, None),
    (None, {"name": "x", "blocks": 5}, None),
    (None, {"name": "x", "blocks": [{"kind": ["Conv2d"]}]}, None),
    (None, None, {"status": "finished", "val_accuracy": float("nan")}),
])
def test_a_run_with_values_of_the_wrong_type_is_passed_over_by_the_lesson_checks(tmp_path, config, graph, summary):
    good = {"dataset": "mnist-sample", "dataset_options": {"train_count": 64}}
    write_run(tmp_path, "20260101-000000-good", config=good, summary={"status": "finished", "val_accuracy": 0.5})
    write_run(tmp_path, "20260102-000000-bad", config=config, graph=graph, summary=summary)
    ctx = lessons.LessonContext.build(None, tmp_path)
    assert [r.path.name for r in ctx.runs] == ["20260101-000000-good"]
    assert lessons.evaluate(RUN_CHECK, ctx) == (False, "train a run: validation accuracy of at least 90%")


@settings(derandomize=True, deadline=None, database=None, max_examples=40)
@given(options=JSON, blocks=JSON, acc=JSON, status=JSON)
def test_every_lesson_check_reads_any_run_without_raising(tmp_path_factory, options, blocks, acc, status):
    base = tmp_path_factory.mktemp("runs")
    write_run(base, "20260101-000000-r", config={"dataset": "mnist-sample", "dataset_options": options},
              graph={"name": "x", "blocks": blocks}, summary={"status": status, "val_accuracy": acc})
    ctx = lessons.LessonContext.build(None, base)
    for lesson in lessons.builtin_lessons():
        for step in lesson.steps:
            ok, detail = lessons.evaluate(step.check, ctx)
            assert isinstance(detail, str)


# -- health.csv ------------------------------------------------------------------------------------------
def _health_csv(folder, lines):
    with open(folder / "health.csv", "w", encoding="utf-8") as f:
        f.write(",".join(FIELDS) + "\n")
        for step, block in lines:
            f.write(f"{step},{block}," + ",".join(["0.5"] * (len(FIELDS) - 2)) + "\n")


def test_a_health_csv_of_thousands_of_steps_and_blocks_reads_as_a_bounded_table(tmp_path):
    n = 3000                                             # each line a new step and a new block: 3000 × 3000 cells
    _health_csv(tmp_path, [(i, f"b{i}") for i in range(n)])
    table = read_health(tmp_path)
    room = 1_000_000 // n                                # health.MAX_HEALTH_CELLS
    assert len(table["blocks"]) == n and len(table["steps"]) == room == health.MAX_HEALTH_CELLS // n
    assert table["steps"][0] == 0 and table["steps"][-1] == n - 1
    assert all(len(values) == room for values in table["act_mean"].values())
    assert skipped_note(table) == (f"health.csv holds more than is shown (it holds 3,000 sampled steps of 3,000 "
                                   f"blocks: {room:,} evenly spaced steps, the first and the last among them, are "
                                   "shown)")


def test_a_health_csv_naming_more_blocks_than_a_graph_holds_keeps_the_first(tmp_path):
    extra = 5
    _health_csv(tmp_path, [(0, f"b{i}") for i in range(MAX_BLOCKS + extra)])
    table = read_health(tmp_path)
    assert table["blocks"] == [f"b{i}" for i in range(MAX_BLOCKS)] and table["steps"] == [0]
    assert skipped_note(table) == (f"health.csv holds more than is shown (it names {MAX_BLOCKS + extra:,} "
                                   f"blocks, more than the {MAX_BLOCKS:,} a graph holds: the lines of the "
                                   f"{extra} after the first {MAX_BLOCKS:,} were left out)")


def test_a_real_runs_health_csv_is_read_whole(finished_run):
    table = read_health(finished_run)
    assert table["steps"] and table["cut"] == [] and skipped_note(table) is None


def test_a_run_claimed_on_another_machine_that_has_since_ended_there_is_not_training(tmp_path):
    import os
    import time
    from layerloom.runtime import processes
    run = tmp_path / "r"
    run.mkdir()
    (run / "training.json").write_text(json.dumps({"pid": 1, "started": 1.0, "host": "another-box"}))
    assert isinstance(processes.trained_elsewhere(run), processes.OnAnotherMachine)
    assert processes.resume_refusal(run) == "r was being trained on another-box; delete r/training.json if that run has ended"
    (run / "summary.json").write_text(json.dumps({"status": "finished"}))          # it ended there, after the claim
    later = time.time() + 5
    os.utime(run / "summary.json", (later, later))
    assert processes.trained_elsewhere(run) is None and processes.resume_refusal(run) is None


def test_this_process_releases_its_claim_even_if_the_machine_is_renamed_meanwhile(tmp_path, monkeypatch):
    from layerloom.runtime import processes
    run = tmp_path / "r"
    run.mkdir()
    processes.claim_run(run)
    monkeypatch.setattr(processes, "HOST", "renamed-box")      # a container or laptop renamed while it trains
    assert processes.trained_elsewhere(run) is None             # its own run
    processes.release_run(run)
    assert not (run / "training.json").exists()
