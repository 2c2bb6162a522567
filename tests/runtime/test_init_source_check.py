"""The readiness check of the weights a run starts from (`init_source_problem`) against the reader the
trainer uses (`read_init_source`): on safetensors files and torch.save zips cut short anywhere, alone or
in a run folder, it finds a problem exactly when reading would fail, reading headers only. (An older,
non-zip torch.save file cut short is seen only by reading it.)"""
import shutil

import pytest
import torch
from hypothesis import given, settings, strategies as st
from safetensors.torch import save_file

from layerloom.graph.weights import WeightsError
from layerloom.runtime.initial_weights import init_source_problem, read_init_source
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net

TENSORS = {"fc.weight": torch.arange(60.0).reshape(6, 10), "fc.bias": torch.ones(6)}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A .safetensors file, a .pt state_dict and a run folder, each whole."""
    base = tmp_path_factory.mktemp("sources")
    save_file(TENSORS, str(base / "w.safetensors"))
    torch.save(TENSORS, base / "w.pt")
    Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 2, "threads": 1}, lambda e: None,
            runs_base=base / "runs", data=mnist_small(n_train=64, n_val=32)).run()
    run = next((base / "runs").iterdir())
    return {"safetensors": base / "w.safetensors", "pt": base / "w.pt", "run": run}


def readable(spec) -> bool:
    try:
        read_init_source(str(spec))
        return True
    except WeightsError:
        return False


def test_whole_sources_have_no_problem(sources):
    for spec in sources.values():
        assert readable(spec) and init_source_problem(str(spec)) is None
    assert init_source_problem("") is None and init_source_problem("torchvision:resnet18") is None


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["safetensors", "pt", "run/model.safetensors", "run/state.pt"]),
       keep=st.floats(0.0, 0.9999))
def test_a_file_cut_short_is_a_problem_exactly_when_the_reader_fails(sources, tmp_path_factory, kind, keep):
    base = tmp_path_factory.mktemp("cut")
    if kind.startswith("run/"):
        spec = shutil.copytree(sources["run"], base / "run")
        ckpt = next(p for p in (spec / "checkpoints").iterdir() if p.is_dir())
        victim = ckpt / kind.split("/")[1]
    else:
        spec = victim = base / sources[kind].name
        shutil.copy(sources[kind], victim)
    data = victim.read_bytes()
    victim.write_bytes(data[:int(len(data) * keep)])
    problem = init_source_problem(str(spec))
    assert (problem is None) == readable(spec), problem
    assert problem is not None          # every cut loses what the header or the zip directory names
    assert str(victim) in problem or str(spec) in problem


def test_missing_and_odd_sources_are_named(tmp_path):
    assert init_source_problem(str(tmp_path / "gone.safetensors")) == \
        f"the file {tmp_path / 'gone.safetensors'} does not exist"
    assert init_source_problem(str(tmp_path / "gone.pt")) == f"the file {tmp_path / 'gone.pt'} does not exist"
    assert "holds no checkpoint" in init_source_problem(str(tmp_path))
    assert not readable(tmp_path / "gone.pt") and not readable(tmp_path)
    (tmp_path / "garbage.safetensors").write_bytes(b"\xff" * 64)
    assert "is not a readable safetensors file" in init_source_problem(str(tmp_path / "garbage.safetensors"))


def test_a_safetensors_file_by_another_name_is_read_and_checked_as_one(sources, tmp_path):
    renamed = tmp_path / "w.pth"
    renamed.write_bytes(sources["safetensors"].read_bytes())
    assert init_source_problem(str(renamed)) is None
    assert torch.equal(read_init_source(str(renamed))["fc.weight"], TENSORS["fc.weight"])
    for cut in (-8, 20):                         # cut in its tensors, and inside its header
        renamed.write_bytes(sources["safetensors"].read_bytes()[:cut])
        assert "is not a readable safetensors file" in init_source_problem(str(renamed)) and not readable(renamed)


def test_a_pipe_is_refused_by_the_check_and_the_reader_without_waiting(tmp_path):
    import os
    pipe = tmp_path / "weights.pt"
    os.mkfifo(pipe)
    assert init_source_problem(str(pipe)) == f"the file {pipe} is not a file but a pipe"
    with pytest.raises(WeightsError, match="is not a file"):
        read_init_source(str(pipe))
