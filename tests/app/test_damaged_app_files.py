"""The app's own files left damaged or crafted (a recovery file named with a number no process id can be, JSON
nested deeper than Python's parser goes in the analysis cache or the lesson progress) read as absent: start-up
goes on and the good files are still used."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from layerloom.app import analysis_cache, recovery, settings
from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path

DEEP = "[" * 100_000 + "]" * 100_000


def _recovery_file(name: str, saved: float):
    target = recovery.recovery_dir() / name
    recovery.write(load_graph(preset_path("mlp")), None, target)
    data = json.loads(target.read_text())
    data["saved"] = saved
    target.write_text(json.dumps(data))
    return target


@pytest.mark.parametrize("name", ["session-4294967296-1.json", "session-99999999999999999999.json",
                                  "session-2147483648-5.json"])
def test_a_recovery_file_named_with_no_process_id_is_passed_over_and_the_others_are_offered(name):
    good = _recovery_file("session-999993.json", 1000.0)
    _recovery_file(name, 2000.0)
    assert [r.file for r in recovery.orphans()] == [good]


def test_an_analysis_cache_nested_too_deep_is_an_empty_cache_and_is_rewritten(tmp_path):
    file = tmp_path / "cache.json"
    file.write_text(DEEP)
    doc = load_graph(preset_path("mlp"))
    assert analysis_cache.lookup(doc, None, file) is None
    analysis_cache.store(doc, None, analyze(doc), file)
    assert analysis_cache.lookup(doc, None, file) == analyze(doc)


def test_lesson_progress_nested_too_deep_reads_as_none_and_is_written_again():
    QSettings().setValue(settings.LESSON_PROGRESS, DEEP)
    assert settings.lesson_progress() == {}
    settings.set_lesson_progress("lenet5", 2)
    assert settings.lesson_progress() == {"lenet5": 2}
