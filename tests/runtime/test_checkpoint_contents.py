"""A checkpoint whose files read but hold the wrong things (weights of another graph or of the wrong
dtype, a meta.json or state.pt someone edited, a pickle that would run code) is refused by
load_checkpoint with a one-line reason, never a traceback from deep inside resume or export."""
import json
import os
import pickle
import re
import shutil
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors.torch import load_file, save_file

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime import checkpoints
from layerloom.runtime.checkpoints import CheckpointError, latest_checkpoint, load_checkpoint
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    t = Trainer(small_net(), {"epochs": 1, "batch_size": 128}, None, runs_base=tmp_path_factory.mktemp("runs"),
                data=mnist_small(256, 64))
    t.run()
    return t.run_dir


@pytest.fixture
def run(good_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy)
    return copy, latest_checkpoint(copy)


def _refused(run_dir, *words):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(run_dir)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert not re.search(r"\w+Error\b", message), message      # what is wrong in words, not an exception's name
    return message


def _edit_weights(ckpt, change):
    weights = load_file(str(ckpt / "model.safetensors"))
    change(weights)
    save_file(weights, str(ckpt / "model.safetensors"))


@pytest.mark.parametrize("change, words", [
    (lambda w: w.__setitem__("conv1.weight", torch.zeros(3, 3)), ("conv1.weight is 3×3 float32", "4×1×3×3 float32")),
    (lambda w: w.pop("fc1.bias"), ("lack fc1.bias",)),
    (lambda w: w.__setitem__("evil", torch.zeros(1)), ("hold evil",)),
    (lambda w: w.update({k: v.double() for k, v in w.items()}), ("float64 where its graph has",)),
    (lambda w: w.update({k: v.to(torch.int8) for k, v in w.items()}), ("int8 where its graph has",)),
])
def test_weights_that_do_not_fit_the_checkpoints_graph_are_refused(run, change, words):
    run_dir, ckpt = run
    _edit_weights(ckpt, change)
    _refused(run_dir, "corrupt", *words)
    # the reference: torch refuses the same weights, or (other dtypes) casts them without a word
    model = compile_graph(small_net(), weights=False)
    weights = load_file(str(ckpt / "model.safetensors"))
    if any(v.dtype != torch.float32 for v in weights.values()):
        model.load_state_dict(weights)
    else:
        with pytest.raises(RuntimeError):
            model.load_state_dict(weights)


def test_a_checkpoint_from_another_graph_is_refused(run):
    run_dir, ckpt = run
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["graph"] = json.loads(preset_path("lenet5").read_text())
    (ckpt / "meta.json").write_text(json.dumps(meta))
    _refused(run_dir, "from another graph")
    assert load_graph(preset_path("lenet5"))   # the graph itself is fine


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.update(epoch="three"), ('"epoch": "three"',)),
    (lambda m: m.pop("step"), ('"step": null',)),
    (lambda m: m.update(step=-5), ('"step": -5',)),
    (lambda m: m.update(step_in_epoch=True), ('"step_in_epoch": true',)),
    (lambda m: m.update(epoch_loss=[1.5]), ('"epoch_loss": [1.5]', "a count of steps")),
    (lambda m: m.update(epoch_loss=[-1.0, 3]), ('"epoch_loss": [-1.0, 3]',)),
    (lambda m: m.update(epoch_loss=[2.0, 1.5]), ('"epoch_loss": [2.0, 1.5]',)),
    (lambda m: m.update(config=[1]), ('"config" of the wrong type',)),
    (lambda m: m.update(class_names=[1, 2]), ('"class_names" that are not all text',)),
    (lambda m: m["graph"]["blocks"][1]["params"].update(kernel_size=1e308), ("its graph cannot be read",)),
])
def test_an_edited_meta_json_is_refused(run, edit, words):
    run_dir, ckpt = run
    meta = json.loads((ckpt / "meta.json").read_text())
    edit(meta)
    (ckpt / "meta.json").write_text(json.dumps(meta))
    _refused(run_dir, "corrupt", *words)


@pytest.mark.parametrize("text, words", [
    ("[" * 5000, ("recursion",)),
    ('{"epoch": NaN}', ("NaN",)),
    ('{"graph": {}, "x": "' + "a" * 20_000 + '"}', ("holds more than",)),
])
def test_a_meta_json_that_is_not_usable_json_is_refused(run, monkeypatch, text, words):
    run_dir, ckpt = run
    monkeypatch.setattr(checkpoints, "META_BYTES", 10_000)
    (ckpt / "meta.json").write_text(text)
    _refused(run_dir, "corrupt", "meta.json", *words)


@pytest.mark.parametrize("state, words", [
    ([1, 2, 3], ("holds list",)),
    ({}, ("lacks the optimizer",)),
    ({"optimizer": "x", "rng": 5}, ("lacks the optimizer",)),
    ({"optimizer": {"state": {}, "param_groups": []}, "rng": torch.zeros(3), "epoch_generator": torch.zeros(3)},
     ("random number generators",)),
])
def test_a_state_pt_without_the_training_state_is_refused(run, state, words):
    run_dir, ckpt = run
    torch.save(state, ckpt / "state.pt")
    _refused(run_dir, "corrupt", "state.pt", *words)


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_state_pt_that_would_run_code_is_refused_without_a_warning(run, tmp_path, how):
    run_dir, ckpt = run
    evil = _RunsCode()
    evil.marker = tmp_path / "ran"
    if how == "torch.save":
        torch.save({"x": evil}, ckpt / "state.pt")
    else:
        (ckpt / "state.pt").write_bytes(pickle.dumps(evil, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a warning would print a second line in the CLI
        _refused(run_dir, "not allowed")
    assert not evil.marker.exists()


def test_resuming_an_edited_checkpoint_fails_with_the_reason(run):
    run_dir, ckpt = run
    _edit_weights(ckpt, lambda w: w.__setitem__("conv1.weight", torch.zeros(3, 3)))
    events = []
    resumed = Trainer(None, None, events.append, resume=run_dir, data=mnist_small(256, 64))
    assert resumed.run() is None
    (message,) = [e["message"] for e in events if e["type"] == "failed"]
    assert "conv1.weight is 3×3" in message and "unexpectedly" not in message


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
META_KEYS = ["epoch", "step", "step_in_epoch", "epoch_loss", "config", "dataset", "class_names", "input_shape", "mean", "std",
             "normalize", "data_context", "vocabulary", "graph_name", "graph"]


@settings(derandomize=True, max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(META_KEYS), value=JSON)
def test_any_value_in_meta_json_loads_or_is_refused_in_one_line(run, key, value):
    run_dir, ckpt = run
    path = ckpt / "meta.json"
    original = path.read_text()
    meta = json.loads(original)
    meta[key] = value
    path.write_text(json.dumps(meta))
    try:
        loaded = load_checkpoint(run_dir)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    else:
        assert loaded.meta[key] == value
    finally:
        path.write_text(original)


def test_a_state_pt_that_unpacks_to_far_more_than_it_holds_is_refused(run):
    """torch.load unpacks deflated members: 16 MB of zeros fit in a 16 kB file (a 1 MB file asked
    for 1 GB). Layerloom's own state.pt is stored unpacked."""
    import io
    import zipfile
    run_dir, ckpt = run
    plain = io.BytesIO()
    torch.save({**torch.load(ckpt / "state.pt", weights_only=True), "x": torch.zeros(4 * 2**20)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(ckpt / "state.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    assert (ckpt / "state.pt").stat().st_size < 2**20
    assert torch.load(ckpt / "state.pt", weights_only=True)["x"].numel() == 4 * 2**20   # torch reads it whole
    _refused(run_dir, "state.pt unpacks to 16 MB")


def test_a_damaged_checkpoint_names_the_earlier_one_to_use_or_says_there_is_none(tmp_path):
    """"Resume or export an earlier checkpoint" left the person to find one: the advice names it, or says the run
    keeps none and which graph to train again."""
    t = Trainer(small_net(), {"epochs": 2, "batch_size": 128}, None, runs_base=tmp_path, data=mnist_small(256, 64))
    assert t.run()["status"] == "finished"
    first, newest = sorted(p for p in (t.run_dir / "checkpoints").iterdir() if p.is_dir())
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])             # cut short, as by a full disk
    message = _refused(t.run_dir, "is corrupt or truncated")
    assert message.endswith(f". Resume or export an earlier checkpoint, such as {first}."), message
    shutil.rmtree(first)
    message = _refused(t.run_dir, "is corrupt or truncated")
    assert message.endswith(f". The run keeps no other checkpoint: train its graph {t.run_dir / 'graph.loom.json'} "
                            "again."), message
