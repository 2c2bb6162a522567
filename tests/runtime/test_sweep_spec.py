"""The sweep section and PATH=SPEC: parsing, validation messages, the graph file round trip."""
import json
import optuna
import pytest

from layerloom.graph import load_graph
from layerloom.graph.fileformat import GraphFileError, dumps_graph, graph_from_dict, parse_graph_text
from layerloom.runtime.sweeps.results import best_changes
from layerloom.runtime.sweeps.spec import SweepError, parse_param_flags, parse_section, parse_spec
from layerloom.runtime.sweeps.trial import apply_values, check_trial

from .sweep_helpers import small_graph


def doc_with(sweep=None):
    return load_graph(small_graph(sweep))


def test_specs_become_optuna_distributions():
    assert parse_spec("log:1e-4:1e-1").to_optuna() == optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)
    assert parse_spec("uniform:0:0.5").to_optuna() == optuna.distributions.FloatDistribution(0.0, 0.5)
    assert parse_spec("int:8:64:8").to_optuna() == optuna.distributions.IntDistribution(8, 64, step=8)
    assert parse_spec("int:8:64:8").grid_values() == [8, 16, 24, 32, 40, 48, 56, 64]
    assert parse_spec("choice:16,32,64").to_optuna() == optuna.distributions.CategoricalDistribution([16, 32, 64])
    assert parse_spec("choice:sgd,adam").choices == ("sgd", "adam")
    assert parse_spec("choice:0.1,true").choices == (0.1, True)


@pytest.mark.parametrize("text, words", [
    ("log:0:1", "above 0"), ("uniform:1:0", "smaller than"), ("int:8:64:0", "at least 1"),
    ("int:1.5:4", "whole numbers"), ("choice:", "separated by commas"), ("choice:1,1", "twice"),
    ("normal:0:1", "unknown range type"), ("0.1", "not a value range"), ("log:a:1", "must be a number"),
])
def test_bad_specs_say_what_fits(text, words):
    with pytest.raises(SweepError, match=words):
        parse_spec(text)


@pytest.mark.parametrize("params, words", [
    ({"training.nope": "log:1e-4:1e-1"}, "not a training setting"),
    ({"blocks.fc9.params.out_features": "int:8:64:8"}, 'no block "fc9"'),
    ({"blocks.fc1.params.width": "int:8:64:8"}, 'Linear has no parameter "width"'),
    ({"fc1.out_features": "int:8:64:8"}, "not a parameter path"),
    ({"blocks.fc1.params.out_features": "int:0:64:8"}, "0 is refused"),
    ({"training.lr": "uniform:0:20"}, "lr must be between"),
    ({"training.optimizer": "choice:sgd,rmsprop"}, "optimizer must be one of"),
])
def test_bad_parameters_are_refused_before_any_trial(params, words):
    with pytest.raises(SweepError, match=words):
        parse_section(doc_with({"params": params}))


def test_section_settings_are_checked():
    doc = doc_with({"params": {"training.lr": "log:1e-4:1e-1"}})
    assert parse_section(doc).strategy == "tpe"
    for bad, words in [({"strategy": "bayes"}, "strategy must be one of"), ({"objective": "acc"}, "val_accuracy or"),
                       ({"trials": -1}, "trials must be a whole number"), ({"workers": 0}, "workers must be"),
                       ({"pruning": {"warmup": 1}}, "pruning must be false or"),
                       ({"pruning": {"warmup_epochs": -1}}, r"^sweep\.pruning\.warmup_epochs must be a whole number"),
                       ({"pruning": {"startup_trials": 0.5}}, r"^sweep\.pruning\.startup_trials must be a whole"),
                       ({"budget": 3}, 'no setting "budget"')]:
        with pytest.raises(SweepError, match=words):
            parse_section(doc, None, bad)
    with pytest.raises(SweepError, match="varies nothing"):
        parse_section(doc_with({}))
    with pytest.raises(SweepError, match="grid needs a list"):
        parse_section(doc, None, {"strategy": "grid"})


def test_param_flags_add_to_and_override_the_section():
    doc = doc_with({"params": {"training.lr": "log:1e-4:1e-1"}, "strategy": "grid", "trials": 0})
    flags = parse_param_flags(["training.lr=choice:0.001,0.01", "blocks.fc1.params.out_features=choice:10,20"])
    spec = parse_section(doc, None, {"params": flags, "workers": 2})
    assert spec.params["training.lr"].choices == (0.001, 0.01)
    assert spec.budget() == 4 and spec.workers == 2 and spec.direction == "maximize"
    with pytest.raises(SweepError, match="write PATH=SPEC"):
        parse_param_flags(["training.lr"])
    with pytest.raises(SweepError) as given_twice:          # which of the two was meant? not the last silently
        parse_param_flags(["training.lr=log:1e-4:1e-1", "training.lr = choice:0.01"])
    assert str(given_twice.value) == ("--param training.lr is given twice (log:1e-4:1e-1 and choice:0.01): "
                                      "keep one of them")


def test_sweep_section_round_trips_through_the_file_and_refuses_non_objects():
    section = {"name": "s", "params": {"training.lr": "log:0.0001:0.1"}, "strategy": "random", "trials": 3}
    doc = doc_with(section)
    again = load_graph(parse_graph_text(dumps_graph(doc)))
    assert again.sweep == section
    assert parse_section(again).to_section()["params"] == {"training.lr": "log:0.0001:0.1"}
    with pytest.raises(GraphFileError, match="sweep must be an object"):
        load_graph({**small_graph(), "sweep": [1]})


def test_architecture_values_are_checked_by_analysis():
    doc = doc_with()
    bad = apply_values(doc, {"blocks.conv1.params.kernel_size": 40})
    problem, _ = check_trial(bad, {"blocks.conv1.params.kernel_size": 40, "training.lr": 0.012520653814999465})
    assert "conv1:" in problem and "kernel_size" in problem and "40" in problem
    # the values as the results table shows them, not a float's 17 digits
    assert problem.startswith("with blocks.conv1.params.kernel_size=40, training.lr=0.01252 the graph does not work")
    good = apply_values(doc, {"blocks.conv1.params.kernel_size": 5, "training.lr": 0.01})
    problem, costs = check_trial(good, {})
    assert problem is None and good.training["lr"] == 0.01 and doc.training["lr"] == 0.003
    # conv1: 4 x 1 x 5 x 5 + 4; fc1: (4 x 12 x 12) x 10 + 10
    assert costs["params"] == 4 * 25 + 4 + 576 * 10 + 10


def test_best_values_as_changes():
    doc = doc_with()
    row = {"params": {"training.lr": 0.01, "blocks.conv1.params.kernel_size": 3, "blocks.fc1.params.out_features": 12}}
    changes = best_changes(doc, row)
    assert [(c["path"], c["old"], c["new"]) for c in changes] == [
        ("training.lr", 0.003, 0.01), ("blocks.fc1.params.out_features", 10, 12)]


def test_default_specs_for_sweep_this_parameter_are_valid_ranges():
    from layerloom.graph.blocks import get_kind
    from layerloom.runtime.sweeps.spec import default_spec
    doc = doc_with()
    assert default_spec(get_kind("Linear").param("out_features"), 10) == "int:5:20:1"
    assert default_spec(get_kind("Dropout").param("p"), 0.5).startswith("uniform:0:")
    assert default_spec(get_kind("Linear").param("bias"), True) == "choice:true,false"
    for path, spec in [("blocks.fc1.params.out_features", default_spec(get_kind("Linear").param("out_features"), 10)),
                       ("blocks.conv1.params.kernel_size", default_spec(get_kind("Conv2d").param("kernel_size"), 3))]:
        parsed = parse_section(doc, {"params": {path: spec}})     # the range passes the sweep's own checks
        assert path in parsed.params


def test_a_sweep_resumes_only_with_the_objective_and_ranges_its_trials_were_scored_with(tmp_path):
    from optuna.study import StudyDirection
    from layerloom.runtime.sweeps.study import create_study, open_storage
    doc = doc_with({"name": "s", "params": {"training.lr": "log:1e-4:1e-1"}, "trials": 2})
    storage = open_storage(None, tmp_path)
    study = create_study(doc, parse_section(doc), storage)
    study.tell(study.ask(), 0.9)                                         # a val_accuracy
    with pytest.raises(SweepError, match='"s" already exists and its objective is val_accuracy, not val_loss'):
        create_study(doc, parse_section(doc, None, {"objective": "val_loss"}), storage)
    other = parse_section(doc, None, {"params": {"training.lr": "log:1e-3:1e-1"}})
    with pytest.raises(SweepError, match=r"it varies training\.lr=log:0\.0001:0\.1: give this one another name"):
        create_study(doc, other, storage)
    again = create_study(doc, parse_section(doc, None, {"trials": 5}), storage)     # a larger budget resumes
    assert again.direction == StudyDirection.MAXIMIZE and [t.value for t in again.trials] == [0.9]
    assert create_study(doc, parse_section(doc, None, {"objective": "val_loss", "name": "t"}),
                        storage).direction == StudyDirection.MINIMIZE


def points_drawn(spec) -> list[tuple]:
    """The values the sweep's own sampler gives over its whole budget, one tuple per trial (in Optuna)."""
    from layerloom.runtime.sweeps.study import sampler_for
    study = optuna.create_study(sampler=sampler_for(spec))
    distributions = {path: dist.to_optuna() for path, dist in spec.params.items()}
    seen = []
    for _ in range(spec.budget()):
        trial = study.ask(distributions)
        seen.append(tuple(trial.params[p] for p in spec.params))
        study.tell(trial, 0.5)
    return seen


def test_a_grid_budget_larger_than_the_grid_runs_each_point_once():
    doc = doc_with({"params": {"training.lr": "choice:0.001,0.01", "blocks.fc1.params.out_features": "choice:10,20"},
                    "strategy": "grid", "trials": 10})
    spec = parse_section(doc)
    seen = points_drawn(spec)
    assert sorted(seen) == [(0.001, 10), (0.001, 20), (0.01, 10), (0.01, 20)]     # Optuna's grid, each point once
    assert parse_section(doc, None, {"trials": 3}).budget() == 3


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_budget_that_covers_a_space_of_choices_runs_each_point_once(strategy):
    """Every trial trains with the sweep's seed: random or TPE drawing a point twice would train the same
    network twice (and miss another point). A budget that covers the space runs Optuna's grid instead."""
    doc = doc_with({"params": {"training.lr": "choice:0.001,0.01", "blocks.fc1.params.out_features": "int:10:20:10"},
                    "strategy": strategy})
    spec = parse_section(doc)
    assert (spec.budget(), spec.sampling) == (4, "grid") and "every one of the 4 value combinations" in spec.describe()
    seen = points_drawn(spec)
    assert sorted(seen) == [(0.001, 10), (0.001, 20), (0.01, 10), (0.01, 20)]
    fewer = parse_section(doc, None, {"trials": 3})                 # fewer trials than points: the strategy samples
    assert (fewer.budget(), fewer.sampling, fewer.describe()) == (3, strategy, f"{strategy}, 3 trials, 1 at once")
    one = doc_with({"params": {"training.lr": "choice:0.01"}, "strategy": strategy})
    assert parse_section(one).describe() == "the one value combination there is, 1 trial, 1 at once"
    wide = doc_with({"params": {"training.lr": "log:1e-4:1e-1", "blocks.fc1.params.out_features": "choice:10,20"},
                     "strategy": strategy})
    assert (parse_section(wide).budget(), parse_section(wide).sampling) == (20, strategy)   # a continuous range


def test_swept_epochs_and_the_sweeps_own_epochs_are_not_both_taken(tmp_path):
    from layerloom.runtime.cli import run
    from layerloom.runtime.runs import read_json

    from .sweep_helpers import write_graph
    # a trial runs `layerloom train TRIAL --epochs N` for sweep.epochs: the flag wins over the graph's epochs
    path = write_graph(tmp_path / "g.loom.json", training={"epochs": 3})
    assert run(["train", path, "--epochs", "1", "--max-steps", "1", "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert read_json(run_dir / "config.json")["epochs"] == 1
    doc = doc_with({"params": {"training.epochs": "int:2:4"}})
    assert parse_section(doc).budget() == 3
    with pytest.raises(SweepError, match=r"varies training\.epochs and also sets sweep\.epochs .*: remove one"):
        parse_section(doc, None, {"epochs": 2})


def test_sweep_this_parameter_gives_every_block_parameter_a_range_the_sweep_accepts():
    """Every parameter of every block kind, at its default: the starting range passes the sweep's checks
    (each end, each choice taken by the block registry's own parameter check), or is refused in words."""
    from layerloom.graph.blocks import REGISTRY
    from layerloom.graph.document import GraphDocument
    from layerloom.runtime.sweeps.spec import starting_spec
    for name, kind in REGISTRY.items():
        if name in ("Input", "Output", "Opaque"):
            continue
        doc = GraphDocument("all")
        doc.add_block("Input", {"shape": [3, 8, 8]})
        doc.add_block(name, {}, block_id="b")
        for p in kind.params:
            if p.hidden:
                continue
            path = f"blocks.b.params.{p.name}"
            spec = starting_spec(doc, path)
            if p.type == "shape":
                with pytest.raises(SweepError, match=f"{p.name} is a list, which a sweep cannot vary"):
                    parse_section(doc, {"params": {path: spec}})
                continue
            parsed = parse_section(doc, {"params": {path: spec}}).params[path]
            for value in parsed.edge_values():
                assert kind.param(p.name).check(value) == value or value is None, (name, p.name, spec)
    assert parse_spec("choice:none,tanh").choices == ("none", "tanh")        # GELU's approximate, a word
    assert parse_spec("choice:null,3").choices == (None, 3)


def test_sweep_this_setting_gives_every_training_panel_setting_a_range_the_sweep_accepts():
    """Each setting the Training panel offers to sweep, at its default: each end of the starting range is a
    value TrainConfig itself accepts."""
    from layerloom.runtime.config import TrainConfig
    from layerloom.runtime.sweeps.spec import starting_spec
    doc = doc_with()
    for name in ("optimizer", "lr", "momentum", "weight_decay", "schedule", "step_size", "gamma", "batch_size",
                 "epochs", "max_steps", "loss", "grad_clip", "temperature", "alpha"):   # the panel's SWEEPABLE
        path = f"training.{name}"
        parsed = parse_section(doc, {"params": {path: starting_spec(doc, path)}}).params[path]
        for value in parsed.edge_values():
            TrainConfig.from_sources(doc.training, {name: value})
    assert starting_spec(doc, "training.gamma") == "log:0.01:1"


def test_a_huge_grid_is_refused_without_listing_its_points():
    """int:0:1000000000 is a billion grid points: counted, not listed (a list would need gigabytes). Run
    with its address space capped, so a listing fails fast instead of filling the machine's memory."""
    import subprocess
    import sys
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from sweep_helpers import small_graph\n"
            "from layerloom.graph import load_graph\n"
            "from layerloom.runtime.sweeps.spec import SweepError, parse_section\n"
            "try:\n"
            "    parse_section(load_graph(small_graph()), {'params': {'training.max_steps': 'int:0:1000000000'},"
            " 'strategy': 'grid'})\n"
            "except SweepError as exc:\n"
            "    print(exc)\n")
    from pathlib import Path
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "the grid has more than 10,000 points: use fewer values, or random/tpe", done.stderr
    assert parse_spec("int:0:1000000000").grid_count() == 1_000_000_001


def test_a_sweep_resumes_only_on_the_network_and_data_its_trials_trained(tmp_path):
    from layerloom.runtime.sweeps.study import create_study, open_storage
    section = {"name": "s", "params": {"training.lr": "log:1e-4:1e-1", "blocks.fc1.params.out_features":
                                       "choice:10,20"}}
    doc = doc_with(section)
    storage = open_storage(None, tmp_path)
    study = create_study(doc, parse_section(doc), storage)
    study.tell(study.ask(), 0.9)
    wider = doc_with(section)
    wider.set_param("conv1", "out_channels", 16)                      # another network
    with pytest.raises(SweepError, match="its trials trained another network or data set"):
        create_study(wider, parse_section(wider), storage)
    other_data = doc_with(section)
    other_data.training["dataset"] = "shapes"
    with pytest.raises(SweepError, match="another network or data set"):
        create_study(other_data, parse_section(other_data), storage)
    best = doc_with(section)                                          # "Apply best to graph", then more trials
    best.set_param("fc1", "out_features", 20)
    best.training["lr"] = 0.01
    best.blocks["conv1"].pos = (120, 40)
    best.blocks["conv1"].group = "stem"
    assert [t.value for t in create_study(best, parse_section(best), storage).trials] == [0.9]


def test_a_trial_queued_again_shows_its_values_while_it_waits():
    from layerloom.runtime.sweeps.results import table, trial_rows
    study = optuna.create_study()
    study.enqueue_trial({"training.lr": 0.003})         # what a stopped or aborted trial leaves for the resume
    (row,) = trial_rows(study)
    assert row["state"] == "waiting" and row["params"] == {"training.lr": 0.003}
    assert table([row], ["training.lr"])[1] == [[0, "waiting", 0.003, None, None, None, None, None, None]]


def test_a_graph_that_fails_whatever_the_sweep_tries_is_refused_before_anything_is_stored(tmp_path, capsys):
    from layerloom.runtime.cli import run
    from layerloom.runtime.sweeps.trial import check_graph
    data = small_graph({"params": {"training.lr": "log:1e-3:1e-1"}, "trials": 3})
    data["edges"] = [e for e in data["edges"] if e["to"] != "output"]      # the Output is not wired
    path = tmp_path / "g.loom.json"
    path.write_text(json.dumps(data))
    assert run(["sweep", str(path), "--out", str(tmp_path / "sweeps")]) == 2
    assert capsys.readouterr().err.strip() == (
        "layerloom sweep: the graph does not work whatever the sweep tries: output: its input is not connected: "
        "wire a block's output into it; fix the graph first (its Problems panel, or layerloom check FILE)")
    assert not (tmp_path / "sweeps").exists()          # no study of failed trials to be refused on resume
    # a broken value of a block the sweep varies is what the sweep may mend: its trials say which values fail
    data = small_graph()
    data["blocks"][1]["params"]["kernel_size"] = 40
    doc = graph_from_dict(data)
    check_graph(doc, {"blocks.conv1.params.kernel_size": None})
    with pytest.raises(SweepError, match="conv1: "):
        check_graph(doc, {"training.lr": None})


def test_a_bad_command_line_value_is_named_by_its_flag(tmp_path, capsys):
    from layerloom.runtime.cli import run
    path = tmp_path / "g.loom.json"
    path.write_text(json.dumps(small_graph({"params": {"training.lr": "log:1e-3:1e-1"}, "workers": 300})))
    out = str(tmp_path / "sweeps")
    for flags, said in ((["--workers", "0"], "--workers must be a whole number from 1 to 256, not 0"),
                        (["--trials", "200000"], "--trials must be a whole number from 0 to 100,000, not 200000"),
                        (["--name", "///"], "--name must be a short name with letters or digits"),
                        ([], "sweep.workers must be a whole number from 1 to 256, not 300")):   # the file's own
        assert run(["sweep", str(path), *flags, "--out", out]) == 2
        assert capsys.readouterr().err.startswith(f"layerloom sweep: {said}")


@pytest.mark.parametrize("damage", ["garbage{{\n", '{"op_code": 0}\n', "\x00\x01\xff\n", "garbage", "{}\ngarbage"])
def test_a_damaged_journal_is_refused_with_a_sentence_and_left_as_it_is(tmp_path, capsys, damage):
    from layerloom.runtime.cli import run
    path = tmp_path / "g.loom.json"
    path.write_text(json.dumps(small_graph({"name": "jj", "params": {"training.lr": "log:1e-3:1e-1"}})))
    journal = tmp_path / "sweeps" / "jj" / "journal.log"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(damage.encode("latin-1"))
    assert run(["sweep", str(path), "--out", str(tmp_path / "sweeps")]) == 2      # not a traceback
    assert capsys.readouterr().err.startswith(f"layerloom sweep: the sweep's journal {journal} is damaged and "
                                              "cannot be read (")
    assert journal.read_bytes() == damage.encode("latin-1")                      # nothing appended to it


def test_more_workers_than_cores_are_warned_about_by_both_sweep_commands(tmp_path, monkeypatch, capsys):
    """256 trial processes on a 2-core machine take turns on the cores: both commands say so before any trial,
    and the sweep still runs as asked; as many as the cores is not warned about."""
    from layerloom.app.main import main
    from layerloom.runtime.sweeps import coordinator
    from .sweep_helpers import write_graph
    monkeypatch.setattr(coordinator, "available_cores", lambda: 2)
    started = []
    monkeypatch.setattr(coordinator.SweepRunner, "run", lambda self: started.append(self.workers) or [])
    graph = write_graph(tmp_path / "g.loom.json", {"params": {"training.lr": "log:1e-3:1e-1"}, "trials": 300})
    out = str(tmp_path / "sweeps")
    main(["sweep", graph, "--workers", "256", "--out", out, "--storage", f"journal:{tmp_path / 'j.log'}"])
    err = capsys.readouterr().err
    assert err.strip() == ("layerloom sweep: warning: 256 trials at once on 2 cores: they take turns on the cores, so "
                           "the sweep is no faster than with 2 at once, and each trial process holds its own PyTorch "
                           "and data set in memory; set --workers to 2 or fewer"), err
    main(["sweep-worker", "--storage", f"journal:{tmp_path / 'j.log'}", "--workers", "3", "--out", out])
    assert "layerloom sweep-worker: warning: 3 trials at once on 2 cores" in capsys.readouterr().err
    assert main(["sweep-worker", "--storage", f"journal:{tmp_path / 'j.log'}", "--workers", "100000",
                 "--out", out]) == 2
    assert "--workers must be a whole number from 1 to 256, not 100000" in capsys.readouterr().err
    main(["sweep", graph, "--workers", "2", "--out", out, "--name", "other"])
    main(["sweep", graph, "--workers", "8", "--trials", "2", "--out", out, "--name", "two"])   # 2 at once at most
    assert "warning" not in capsys.readouterr().err
    assert started == [256, 3, 2, 8]


def test_a_journal_record_cut_short_by_a_crash_is_dropped_and_the_sweep_resumes(tmp_path):
    """A process killed while it appended leaves a last record without its line end: Optuna passes over it, but
    the next record went onto the same line and the journal could never be read again."""
    from layerloom.runtime.sweeps.study import JOURNAL, create_study, open_storage
    doc = doc_with({"name": "cut", "params": {"training.lr": "log:1e-3:1e-1"}})
    spec = parse_section(doc, None)
    folder = tmp_path / "cut"
    study = create_study(doc, spec, open_storage(None, folder))
    study.set_user_attr("before", 1)
    journal = folder / JOURNAL
    whole = journal.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
    journal.write_bytes(whole + last[:len(last) // 2])             # the next record, cut half-way
    again = create_study(doc, spec, open_storage(None, folder))   # resumed
    again.set_user_attr("after", 2)
    assert journal.read_bytes().startswith(whole) and journal.read_bytes().endswith(b"\n")
    reread = create_study(doc, spec, open_storage(None, folder))
    assert (reread.user_attrs["before"], reread.user_attrs["after"]) == (1, 2)
    assert not (folder / f"{JOURNAL}.lock").exists()


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_resumed_sweep_or_a_worker_does_not_draw_the_first_trials_values_again(tmp_path, strategy):
    """Every process used to seed its sampler with the sweep's seed: each resume (and each sweep-worker) drew the
    values of the sweep's first trials again and trained the same networks once more."""
    from layerloom.runtime.sweeps.study import create_study, load_study, open_storage
    doc = doc_with({"name": "again", "params": {"training.lr": "log:1e-4:1e-1"}, "strategy": strategy, "trials": 9})
    spec = parse_section(doc, None)
    folder = tmp_path / "again"
    dists = {p: d.to_optuna() for p, d in spec.params.items()}
    drawn = []
    for session in range(3):                  # a sweep started, then resumed twice: one trial each time
        study = create_study(doc, spec, open_storage(None, folder))
        trial = study.ask(dists)
        drawn.append(trial.params["training.lr"])
        study.tell(trial, 0.5)
    worker, _doc, _spec = load_study(open_storage(None, folder))
    drawn.append(worker.ask(dists).params["training.lr"])
    assert len(set(drawn)) == 4, drawn
    fresh = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=spec.seed) if strategy == "random"
                                else optuna.samplers.TPESampler(seed=spec.seed))
    assert drawn[0] == fresh.ask(dists).params["training.lr"]      # a new sweep draws as it always did


def test_importance_is_left_out_when_the_trials_cannot_tell_the_parameters_apart(recwarn):
    """Two trials that ended alike made Optuna print a warning under the sweep's table and give every parameter
    the same share: figures that mean nothing are not shown, and nothing is printed."""
    from layerloom.runtime.sweeps.results import importance
    space = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
             "width": optuna.distributions.IntDistribution(8, 64)}

    def study_of(values):
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
        for value in values:
            study.tell(study.ask(space), value)
        return study
    assert importance(study_of([0.853, 0.853])) == {} and importance(study_of([0.8, 0.8, 0.8])) == {}
    assert not [w for w in recwarn if "importances" in str(w.message)]
    found = importance(study_of([0.5, 0.6, 0.7, 0.8, 0.9, 0.55, 0.65, 0.75]))
    assert sorted(found) == ["lr", "width"] and sum(found.values()) == pytest.approx(1.0)
