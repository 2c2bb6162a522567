"""Damaged or foreign sweep storage: a journal line nested past what Python reads, a study without Layerloom's
graph or sweep settings, or with values of the wrong kind. Each is a sentence that says what to do, never a
traceback or a Python class name."""
import json

import optuna
import pytest
from hypothesis import given, settings, strategies as st
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from layerloom.app.main import main
from layerloom.runtime.sweeps import study as S
from layerloom.runtime.sweeps.spec import SweepError

from .sweep_helpers import small_graph, write_graph

CLASS_NAMES = ("Error", "Exception", "Traceback")


def _worker(journal, capsys, out):
    code = main(["sweep-worker", "--storage", f"journal:{journal}", "--out", str(out)])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("damage", ["[" * 100_000 + "\n", '{"op_code": 99}\n',
                                    '{"op_code": 0, "worker_id": "x", "study_name": 5, "directions": "zz"}\n'])
def test_a_damaged_journal_is_a_sentence_without_a_class_name(tmp_path, capsys, damage):
    if damage.startswith("["):
        with pytest.raises(RecursionError):        # what Python's json reader makes of it
            json.loads(damage)
    journal = tmp_path / "journal.log"
    journal.write_text(damage)
    code, err = _worker(journal, capsys, tmp_path / "out")
    assert code == 2 and err.startswith(f"layerloom sweep-worker: the sweep's journal {journal} is damaged and "
                                        "cannot be read (")
    assert err.endswith("move it away to start the sweep afresh (its trials are lost), or put back a copy")
    assert not any(word in err for word in CLASS_NAMES), err
    if damage.startswith("["):
        assert "(line 1 is not a record Optuna wrote)" in err


def _foreign_study(journal, attr):
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="x", storage=storage)
    study.set_user_attr(S.ATTR, attr)


GRAPH = small_graph()
SWEEP = {"params": {"training.lr": "log:1e-3:1e-1"}, "name": "x"}


@pytest.mark.parametrize("attr, why", [
    ({"graph": GRAPH}, "it holds no sweep settings"),
    ({"graph": GRAPH, "sweep": "abc"}, "it holds no sweep settings"),
    ({"graph": "x", "sweep": {}}, "it holds no graph"),
    (5, "it holds no graph"),
    ({"graph": {"format": "something else"}, "sweep": SWEEP}, "its graph cannot be read: "),
    ({"graph": GRAPH, "sweep": {"params": 5}}, "its sweep settings cannot be used: sweep.params must be"),
    ({"graph": GRAPH, "sweep": {}}, "its sweep settings cannot be used: the sweep varies nothing"),
])
def test_a_study_layerloom_did_not_write_is_named_with_what_to_do(tmp_path, capsys, attr, why):
    journal = tmp_path / "j.log"
    _foreign_study(journal, attr)
    code, err = _worker(journal, capsys, tmp_path / "out")
    assert code == 2
    assert err.startswith("layerloom sweep-worker: the study 'x' in this storage was not written by layerloom "
                          f"sweep, or is damaged ({why}"), err
    assert err.endswith("start the sweep again with layerloom sweep FILE --storage URL under a new name (--name), "
                        "or choose another study with --study NAME")
    assert not any(word in err for word in CLASS_NAMES), err


def test_resuming_into_a_damaged_study_of_the_same_name_is_refused_in_words(tmp_path, capsys):
    journal = tmp_path / "j.log"
    _foreign_study(journal, {"graph": GRAPH, "sweep": "abc"})
    graph = write_graph(tmp_path / "g.loom.json", SWEEP)
    code = main(["sweep", graph, "--out", str(tmp_path / "sweeps"), "--storage", f"journal:{journal}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == ("layerloom sweep: the study 'x' in this storage was not written by layerloom sweep, "
                                 "or is damaged: give this sweep another name (sweep.name or --name), or delete the "
                                 "old sweep's folder")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)


@settings(derandomize=True, max_examples=80, deadline=None, database=None)
@given(graph=st.one_of(JSON, st.just(GRAPH)), sweep=st.one_of(JSON, st.just(SWEEP), st.just({"params": {}})))
def test_any_saved_values_load_or_are_refused_in_words(graph, sweep):
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="x", storage=storage).set_user_attr(S.ATTR, {"graph": graph, "sweep": sweep})
    try:
        _study, doc, spec = S.load_study(storage)
    except SweepError as exc:
        assert str(exc).startswith("the study 'x' in this storage was not written by layerloom sweep, or is damaged")
        assert not any(word in str(exc) for word in CLASS_NAMES)
    else:
        assert graph == GRAPH and spec.params


def _section():
    from layerloom.graph import load_graph
    from layerloom.runtime.sweeps.spec import parse_section
    doc = load_graph(small_graph(SWEEP))
    return doc, parse_section(doc, None)


DOC, SPEC = _section()


@settings(derandomize=True, max_examples=80, deadline=None, database=None)
@given(graph=st.one_of(JSON, st.just(GRAPH), st.fixed_dictionaries({"blocks": JSON, "edges": JSON, "training": JSON})),
       sweep=st.one_of(JSON, st.just(SPEC.to_section()),
                       st.fixed_dictionaries({"params": JSON, "objective": JSON})))
def test_resuming_over_any_saved_values_resumes_or_is_refused_in_words(graph, sweep):
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="x", storage=storage, direction=SPEC.direction).set_user_attr(
        S.ATTR, {"graph": graph, "sweep": sweep})
    try:
        S.create_study(DOC, SPEC, storage)
    except SweepError as exc:
        assert not any(word in str(exc) for word in CLASS_NAMES), str(exc)
        assert str(exc).startswith(("the study 'x' in this storage was not written by layerloom sweep",
                                    'a sweep called "x" already exists and ')), str(exc)
