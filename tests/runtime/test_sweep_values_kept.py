"""A sweep's ranges keep their exact values through the study (resume, sweep-worker), a range that gives
fractions is refused for a whole-number setting, and a resume needs the training settings the trials had."""
import math

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from layerloom.graph import load_graph
from layerloom.runtime.sweeps.spec import SweepError, parse_section, parse_spec

from .sweep_helpers import small_graph

finite = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)


def doc_with(sweep=None, training=None):
    return load_graph(small_graph(sweep, training))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=2, unique=True), st.lists(finite, min_size=1, max_size=4, unique=True),
       st.sampled_from(["log", "uniform"]))
def test_ranges_and_choices_written_back_are_optuna_s_same_distributions(ends, choices, kind):
    """Values used to be written with 6 significant digits: a sweep-worker or a resume rebuilt other ranges,
    and Optuna refused them ("does not support dynamic value space") with a traceback."""
    low, high = sorted(ends)
    for text in (f"{kind}:{low!r}:{high!r}", "choice:" + ",".join(map(repr, choices))):
        dist = parse_spec(text)
        again = parse_spec(dist.spec())
        assert again.to_optuna() == dist.to_optuna()           # Optuna's own equality: what it checks on ask
        assert [type(c) for c in again.choices] == [type(c) for c in dist.choices]


def test_a_worker_rebuilds_the_coordinator_s_exact_ranges_and_asks_without_error(tmp_path):
    from layerloom.runtime.sweeps.study import create_study, load_study, open_storage
    doc = doc_with({"name": "exact", "params": {"training.lr": "choice:0.0012345678,0.003,3.0",
                                                "training.momentum": "uniform:0.123456789:0.9"}})
    spec = parse_section(doc)
    storage = open_storage(None, tmp_path / "exact")
    study = create_study(doc, spec, storage)
    first = study.ask()
    values = {p: d.suggest(first, p) for p, d in spec.params.items()}
    study.tell(first, 0.5)
    worker, _doc, worker_spec = load_study(storage)
    assert {p: d.to_optuna() for p, d in worker_spec.params.items()} == \
        {p: d.to_optuna() for p, d in spec.params.items()}
    trial = worker.ask()
    drawn = {p: d.suggest(trial, p) for p, d in worker_spec.params.items()}
    assert drawn["training.lr"] in (0.0012345678, 0.003, 3.0) and isinstance(drawn["training.lr"], float)
    assert 0.123456789 <= values["training.momentum"] <= 0.9
    # and a resume with the very same text is the same sweep
    assert [t.value for t in create_study(doc, parse_section(doc), storage).trials if t.value] == [0.5]


def test_a_storage_whose_trials_drew_from_other_values_stops_the_sweep_in_words(tmp_path):
    """Optuna refuses a value space that changes under a parameter's name: the trial it had started is
    failed (counted as interrupted, so it uses no budget) instead of being left running with no owner."""
    from layerloom.runtime.sweeps.coordinator import SweepRunner
    from layerloom.runtime.sweeps.study import create_study, open_storage, trials_counted
    doc = doc_with({"name": "clash", "params": {"training.lr": "choice:0.1,0.01"}})
    spec = parse_section(doc)
    storage = open_storage(None, tmp_path / "clash")
    study = create_study(doc, spec, storage)
    elsewhere = optuna.load_study(study_name="clash", storage=storage, sampler=optuna.samplers.RandomSampler(0))
    other = elsewhere.ask({"training.lr": optuna.distributions.CategoricalDistribution([0.5, 0.05])})
    elsewhere.tell(other, 0.2)
    runner = SweepRunner(study, doc, spec, tmp_path / "clash", data_checked=True)
    with pytest.raises(SweepError, match=r"the sweep's storage holds trials that drew a parameter from other "
                                         r"values than this sweep .*start this sweep under another name"):
        runner._launch()
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.FAIL] and trials_counted(study) == 1
    assert not runner.running


@pytest.mark.parametrize("path, text, hint", [
    ("training.batch_size", "log:16:256", "int:16:256[:STEP]"),
    ("training.epochs", "uniform:1:4.5", "int:1:4[:STEP]"),
    ("blocks.fc1.params.out_features", "log:8:100.5", "int:8:100[:STEP]"),
])
def test_a_range_of_fractions_on_a_whole_number_setting_is_refused_with_the_int_form(path, text, hint):
    """Every trial used to fail ("batch_size must be a whole number, not 73.27…") after the sweep began."""
    doc = doc_with()
    with pytest.raises(SweepError, match=rf"takes whole numbers, which a {text.split(':')[0]} range does not give: "
                                         rf"use {hint.replace('[', '.').replace(']', '.')}"):
        parse_section(doc, {"params": {path: text}})
    low, high = hint.split("[")[0].split(":")[1:]
    assert parse_section(doc, {"params": {path: f"int:{low}:{high}"}}).params[path].kind == "int"   # what it says works
    assert math.isclose(parse_section(doc, {"params": {"training.lr": "log:1e-4:1e-1"}}).params["training.lr"].high, 0.1)


def test_a_resume_needs_the_training_settings_and_sweep_epochs_and_seed_its_trials_had(tmp_path):
    """Old and new trials would be ranked together although they trained otherwise (1 epoch against 20)."""
    from layerloom.runtime.sweeps.study import create_study, open_storage
    section = {"name": "s", "params": {"training.lr": "log:1e-4:1e-1"}, "epochs": 1}
    storage = open_storage(None, tmp_path)
    doc = doc_with(section, {"optimizer": "sgd"})
    study = create_study(doc, parse_section(doc), storage)
    study.tell(study.ask(), 0.9)
    for sweep, training, words in (
            (section, {"optimizer": "adam"}, "its trials trained with training.optimizer 'sgd', not 'adam'"),
            (section, {"optimizer": "sgd", "batch_size": 17}, "its trials trained with training.batch_size 256, not 17"),
            ({**section, "epochs": 20}, {"optimizer": "sgd"}, "its trials trained for sweep.epochs 1, not 20"),
            ({**section, "seed": 3}, {"optimizer": "sgd"}, "its trials trained with sweep.seed 0, not 3")):
        changed = doc_with(sweep, training)
        with pytest.raises(SweepError, match=rf'a sweep called "s" already exists and {words}'):
            create_study(changed, parse_section(changed), storage)
    # what may change: how fast trials run, the swept value itself, a default written out, the budget
    from layerloom.runtime.config import TrainConfig
    assert "momentum" not in doc.training and TrainConfig().momentum == 0.9
    same = doc_with({**section, "trials": 40, "workers": 2}, {"optimizer": "sgd", "threads": 1, "lr": 0.05,
                                                              "epochs": 7, "momentum": 0.9})
    assert [t.value for t in create_study(same, parse_section(same), storage).trials] == [0.9]
