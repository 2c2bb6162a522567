"""Lessons: every check passes when its step is really done, and not before."""
import json

import pytest

from layerloom.graph import GraphDocument, analyze
from layerloom.runtime.lessons import (LessonContext, LessonError, LessonProgress, builtin_lessons, evaluate,
                                       load_lesson)
from layerloom.runtime.trainer import Trainer

LESSONS = {lesson.id: lesson for lesson in builtin_lessons()}


def ctx(doc=None, runs=None, facts=()):
    return LessonContext.build(doc, runs, facts)


def train(doc, runs, **config):
    t = Trainer(doc, {"seed": 0, **config}, None, runs_base=runs)
    summary = t.run()
    assert summary is not None, "the run failed"
    return summary


def test_six_lessons_load_and_start_from_a_valid_document():
    assert set(LESSONS) == {"lenet5", "alexnet-fix", "rnn-vs-lstm", "overfitting", "word-embeddings",
                            "what-convolutions-learn"}
    for lesson in LESSONS.values():
        doc = lesson.start_graph()
        progress = LessonProgress(lesson)
        assert progress.update(ctx(doc)) == [], lesson.id     # nothing is done at the start
        assert progress.detail and progress.current is lesson.steps[0]
        assert lesson.minutes <= 10


def _lenet_by_hand():
    doc = GraphDocument("my net")
    steps = []
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    steps.append(doc.copy())
    for kind, p in [("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("ReLU", {}),
                    ("MaxPool2d", {"kernel_size": 2}), ("Conv2d", {"out_channels": 16, "kernel_size": 5}),
                    ("ReLU", {}), ("MaxPool2d", {"kernel_size": 2})]:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
    steps.append(doc.copy())
    for kind, p in [("Flatten", {}), ("Linear", {"out_features": 120}), ("ReLU", {}),
                    ("Linear", {"out_features": 84}), ("ReLU", {}), ("Linear", {"out_features": 10}), ("Output", {})]:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
    steps.append(doc)
    return steps


@pytest.fixture(scope="module")
def lenet_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    *_, doc = _lenet_by_hand()
    summary = train(doc, runs, epochs=1, batch_size=64, lr=0.003, dataset="mnist-sample")
    assert summary["val_accuracy"] >= 0.9
    return runs


def test_lenet_lesson_follows_the_build(lenet_runs, tmp_path):
    lesson = LESSONS["lenet5"]
    progress = LessonProgress(lesson)
    input_only, convs, full = _lenet_by_hand()
    assert progress.update(ctx(GraphDocument("empty"))) == []
    assert progress.update(ctx(input_only)) == [0]
    assert progress.update(ctx(convs)) == [1]
    wrong = full.copy()
    wrong.set_param(next(b.id for b in wrong.blocks.values() if b.kind == "Linear"), "out_features", 100)
    assert progress.update(ctx(wrong)) == [2]          # valid, but not LeNet-5's 61,706 parameters
    assert "parameters" in progress.detail and "61,706" in progress.detail
    assert progress.update(ctx(full, tmp_path)) == [3]   # no run yet
    assert progress.detail.startswith("train a run")
    assert progress.update(ctx(full, lenet_runs)) == [4]
    assert progress.finished


def test_alexnet_lesson_two_fixes():
    lesson = LESSONS["alexnet-fix"]
    start = lesson.start_graph()
    result = analyze(start)
    assert [d.block for d in result.errors] == ["fc1"]
    progress = LessonProgress(lesson)
    assert progress.update(ctx(start)) == []
    assert progress.update(ctx(start, facts={"selected:conv1"})) == []
    assert progress.update(ctx(start, facts={"selected:fc1"})) == [0]
    # fix 2 first does not count for fix 1
    adaptive = lesson.start_graph()
    flat = next(b.id for b in adaptive.blocks.values() if b.kind == "Flatten")
    up = adaptive.edges_into(flat)[0]
    adaptive.disconnect(up)
    gap = adaptive.add_block("AdaptiveAvgPool2d", {"output_size": 6})
    adaptive.connect(up.src, gap)
    adaptive.connect(gap, flat)
    assert analyze(adaptive).ok
    assert progress.update(ctx(adaptive)) == []
    padded = lesson.start_graph()
    for bid, p in zip([b.id for b in padded.blocks.values() if b.kind == "Conv2d"], (2, 2, 1, 1, 1)):
        padded.set_param(bid, "padding", p)
    assert progress.update(ctx(padded)) == [1]
    assert progress.update(ctx(adaptive)) == [2]
    assert progress.finished


def test_rnn_lstm_and_word2vec_lessons_with_real_short_runs(tmp_path):
    runs = tmp_path / "runs"
    rnn = LESSONS["rnn-vs-lstm"]
    progress = LessonProgress(rnn)
    doc = rnn.start_graph()
    train(doc, runs, epochs=1, max_steps=3)
    assert progress.update(ctx(doc, runs)) == [0]
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    lstm = load_graph(preset_path("seq_mnist_lstm"))
    assert progress.update(ctx(lstm, runs)) == []
    train(lstm, runs, epochs=1, max_steps=3)
    assert progress.update(ctx(lstm, runs)) == [1]
    assert progress.update(ctx(lstm, runs, facts={"overlaid_runs"})) == [2]

    words = LESSONS["word-embeddings"]
    doc = words.start_graph()
    assert doc.training["dataset_options"]["path"].endswith("animals.txt") and doc.training["epochs"] == 20
    progress = LessonProgress(words)
    train(doc, runs, epochs=1, max_steps=5)
    assert progress.update(ctx(doc, runs)) == [0]
    assert progress.update(ctx(doc, runs, facts={"queried_neighbours"})) == [1]


def test_overfitting_lesson_measures_the_gap(tmp_path):
    lesson = LESSONS["overfitting"]
    runs = tmp_path / "runs"
    doc = lesson.start_graph()
    progress = LessonProgress(lesson)
    train(doc, runs, epochs=3, dataset="mnist-sample", dataset_options={"train_count": 500})
    assert progress.update(ctx(doc, runs)) == [], "3 epochs should not overfit yet"
    train(doc, runs, epochs=30, dataset="mnist-sample", dataset_options={"train_count": 500})
    assert progress.update(ctx(doc, runs)) == [0]
    dropout = doc.copy()
    hidden = [b for b in analyze(doc).order if doc.blocks[b].kind == "ReLU"][0]
    after = next(e for e in dropout.edges if e.src == hidden)
    dropout.disconnect(after)
    drop = dropout.add_block("Dropout", {"p": 0.5})
    dropout.connect(hidden, drop)
    dropout.connect(drop, after.dst, dst_port=after.dst_port)
    train(dropout, runs, epochs=30, dataset="mnist-sample", dataset_options={"train_count": 500},
          augment={"rotation": 10})
    assert progress.update(ctx(dropout, runs)) == [1], progress.detail


def test_filters_lesson_needs_the_views(lenet_runs):
    lesson = LESSONS["what-convolutions-learn"]
    progress = LessonProgress(lesson)
    doc = lesson.start_graph()
    assert progress.update(ctx(doc, lenet_runs)) == [0]
    assert progress.update(ctx(doc, lenet_runs, facts={"viewed_feature_maps"})) == []
    assert progress.update(ctx(doc, lenet_runs, facts={"viewed_filters", "viewed_feature_maps"})) == [1, 2]


@pytest.mark.parametrize("body, message", [
    ({"format": "layerloom-lesson", "version": 2}, "not a Layerloom lesson"),
    ({"format": "layerloom-lesson", "version": 1, "id": "x", "title": "t", "summary": "s", "steps": []},
     "'steps' must be a non-empty list"),
    ({"format": "layerloom-lesson", "version": 1, "id": "x", "title": "t", "summary": "s",
      "steps": [{"title": "a", "text": "b", "hint": "c", "check": {"exec": "import os"}}]},
     "unknown check 'exec'"),
    ({"format": "layerloom-lesson", "version": 1, "id": "x", "title": "t", "summary": "s",
      "start": {"graph": "../../etc/passwd"},
      "steps": [{"title": "a", "text": "b", "hint": "c", "check": {"no_errors": True}}]},
     "must be a file name beside the lesson"),
])
def test_bad_lesson_files_are_refused_with_a_reason(tmp_path, body, message):
    path = tmp_path / "bad.lesson.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(LessonError, match=message):
        load_lesson(path)


def test_checks_say_what_is_missing():
    doc = GraphDocument("x")
    doc.add_block("Input", {"shape": [1, 28, 28]})
    ok, detail = evaluate({"count": {"kind": "Conv2d", "min": 2, "max": 2}}, ctx(doc))
    assert not ok and detail == "exactly 2 Conv2d block(s); the graph has 0"
    ok, detail = evaluate({"no_errors": True}, ctx(doc))
    assert not ok and detail == "the graph needs an Input and an Output"


def test_the_lenet_lesson_names_the_training_defaults_the_app_starts_with():
    import re

    from layerloom.runtime.config import TrainConfig
    hint = LESSONS["lenet5"].steps[-1].hint
    said = re.search(r"\((\w+), learning rate ([\d.]+), batch (\d+), (\d+) epochs\)", hint)
    assert said, hint
    defaults = TrainConfig.from_sources(LESSONS["lenet5"].start_graph().training)
    assert (said[1].lower(), float(said[2]), int(said[3]), int(said[4])) == (
        defaults.optimizer, defaults.lr, defaults.batch_size, defaults.epochs)


def test_a_step_waiting_for_a_valid_graph_names_the_block_with_the_problem():
    lesson = LESSONS["alexnet-fix"]
    doc = lesson.start_graph()
    [error] = analyze(doc).errors
    ok, detail = evaluate({"no_errors": True}, LessonContext.build(doc))
    assert not ok and detail == f"1 problem left at {error.block}: {error.message}"
    doc.add_block("ReLU", {})                                    # a second problem: its input not connected
    errors = analyze(doc).errors
    ok, detail = evaluate({"no_errors": True}, LessonContext.build(doc))
    assert detail == f"{len(errors)} problems left, the first at {errors[0].block}: {errors[0].message}"


# -- a lesson counts only the runs started since it started ----------------------------------------
def test_runs_started_before_the_lesson_do_not_tick_its_steps(lenet_runs, tmp_path):
    import shutil
    import time

    from layerloom.runtime.lessons import load_run_records, run_started
    lesson = LESSONS["what-convolutions-learn"]
    doc = lesson.start_graph()
    (run,) = load_run_records(lenet_runs)
    assert run.started == run_started(run.path) == time.mktime(time.strptime(run.path.name[:15], "%Y%m%d-%H%M%S"))
    later = LessonContext.build(doc, lenet_runs, since=run.started + 3600)      # the lesson started an hour later
    progress = LessonProgress(lesson)
    assert progress.update(later) == []
    assert progress.detail == "train a run: no run since this lesson started"
    assert progress.update(LessonContext.build(doc, lenet_runs, since=run.started)) == [0]   # started before it
    # a run folder without the time in its name: when its config.json was written
    renamed = tmp_path / "runs" / "my-run"
    shutil.copytree(run.path, renamed)
    assert run_started(renamed) == (renamed / "config.json").stat().st_mtime


def test_the_overfitting_lesson_graph_trains_on_500_digits_as_its_first_step_says(tmp_path):
    """Step 1 asked to set the data option train_count in the Training panel, which has no such field: the
    lesson's graph now comes with it, and training it as it is (▶ Start) ticks the step."""
    lesson = LESSONS["overfitting"]
    doc = lesson.start_graph()
    assert doc.training["dataset"] == "mnist-sample" and doc.training["epochs"] == 30
    assert doc.training["dataset_options"] == {"train_count": 500}
    assert "has set the MLP to train on only 500 digits" in lesson.steps[0].text
    runs = tmp_path / "runs"
    train(doc, runs, **doc.training)
    progress = LessonProgress(lesson)
    assert progress.update(ctx(doc, runs)) == [0], progress.detail


def test_the_lstm_step_says_what_to_set_and_what_the_preset_route_changes():
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    step = LESSONS["rnn-vs-lstm"].steps[1]
    rnn = load_graph(preset_path("rnn_classifier"))
    assert [b.params.get("output") for b in rnn.blocks.values() if b.kind == "RNN"] == ["last"]
    assert "output to last" in step.text
    assert f"lr {rnn.training['lr']}" in step.text and f"grad clip {rnn.training['grad_clip']:g}" in step.text
    lstm = load_graph(preset_path("seq_mnist_lstm")).training
    assert f"lr {lstm['lr']}" in step.hint and f"{lstm['epochs']} epochs" in step.hint
    assert ("no grad clip" in step.hint) == ("grad_clip" not in lstm)


def test_progress_starts_again():
    progress = LessonProgress(LESSONS["alexnet-fix"], done=3)
    assert progress.finished
    progress.reset()
    assert progress.done == 0 and progress.current is LESSONS["alexnet-fix"].steps[0]
