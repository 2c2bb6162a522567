"""Distillation: a half-width LeNet-5 taught by a trained LeNet-5 beats the same student alone."""
import statistics

import pytest
import torch
from torch.nn import functional as F

from layerloom.runtime.config import ConfigError, TrainConfig
from layerloom.runtime.data import DataBundle, InMemorySplit
from layerloom.runtime.distillation import distillation_loss
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, lenet, mnist_small

def half_lenet():
    doc = lenet()
    for block, param, value in [("conv1", "out_channels", 3), ("conv2", "out_channels", 8),
                                ("fc1", "out_features", 60), ("fc2", "out_features", 42)]:
        doc.set_param(block, param, value)
    return doc


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    t = Trainer(lenet(), {"epochs": 2}, None, runs_base=tmp_path_factory.mktemp("teacher"))   # all 4,000 digits
    summary = t.run()
    assert summary["val_accuracy"] > 0.93
    return t.run_dir


def _few_digits(n=512, repeats=10, n_val=500):
    """n training digits seen `repeats` times in one epoch (one validation, one checkpoint)."""
    b = mnist_small(n, n_val)
    x, y = b.train.images, b.train.labels
    return DataBundle(b.info, InMemorySplit(x.repeat(repeats, 1, 1, 1), y.repeat(repeats)), b.val)


def test_distilled_student_beats_the_student_alone(teacher_run, tmp_path):
    data = _few_digits()
    scores = {"alone": [], "taught": []}
    for seed in (0, 1, 2):
        for mode in scores:
            cfg = {"epochs": 1, "seed": seed, "batch_size": 64}
            if mode == "taught":
                cfg.update(teacher=str(teacher_run), temperature=4.0, alpha=0.9)
            summary = Trainer(half_lenet(), cfg, None, runs_base=tmp_path, data=data).run()
            scores[mode].append(summary["val_accuracy"])
    assert statistics.median(scores["taught"]) > statistics.median(scores["alone"]), scores


def test_the_loss_is_hintons_mix_and_the_teacher_never_learns(teacher_run, tmp_path):
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    hard = F.cross_entropy(s, torch.arange(8))
    p, q = F.softmax(t / 3, 1), F.log_softmax(s / 3, 1)
    kl = (p * (p.log() - q)).sum(1).mean() * 9                       # KL(teacher || student) · T²
    torch.testing.assert_close(distillation_loss(s, t, hard, 3.0, 0.25), 0.25 * kl + 0.75 * hard)
    torch.testing.assert_close(distillation_loss(s, t, hard, 3.0, 0.0), hard)

    seen = {}

    class Spy:
        def loss(self, trainer, x, logits, y, loss):
            teacher = trainer.extensions.items[2].teacher
            seen["training"] = teacher.training
            seen["grads"] = [p.requires_grad for p in teacher.parameters()]
            seen["before"] = seen.get("before") or {k: v.clone() for k, v in teacher.state_dict().items()}
            seen["after"] = teacher.state_dict()
            return loss
    rec = Recorder()
    cfg = {"epochs": 1, "max_steps": 5, "teacher": str(teacher_run), "temperature": 2.0, "alpha": 0.5}
    assert Trainer(half_lenet(), cfg, rec, runs_base=tmp_path, data=mnist_small(512, 64),
                   extensions=[Spy()]).run() is not None
    assert seen["training"] is False and not any(seen["grads"])
    assert all(torch.equal(seen["before"][k], seen["after"][k]) for k in seen["before"])
    assert rec.of("started")[0]["config"]["teacher"] == str(teacher_run)


def test_bad_distillation_settings_say_what_to_change(teacher_run, tmp_path):
    with pytest.raises(ConfigError, match="alpha must be between 0 and 1"):
        TrainConfig.from_dict({"alpha": 1.5})
    with pytest.raises(ConfigError, match="temperature must be between"):
        TrainConfig.from_dict({"temperature": 0})
    rec = Recorder()
    Trainer(half_lenet(), {"epochs": 1, "teacher": str(tmp_path / "nowhere")}, rec, runs_base=tmp_path,
            data=mnist_small(64, 32)).run()
    (failed,) = rec.of("failed")
    assert failed["message"] == (f"teacher: {tmp_path / 'nowhere'} is not there any more (moved or deleted): give "
                                 "another trained run folder as the teacher (--teacher RUN, or Distillation ▸ Teacher "
                                 "in the training settings), or train without one")      # the terminal's or the window's


def test_train_command_takes_the_teacher_flags(teacher_run, tmp_path):
    from layerloom.presets import preset_path
    from layerloom.runtime.cli import run
    from layerloom.runtime.runs import read_json

    assert run(["train", str(preset_path("lenet5")), "--teacher", str(teacher_run), "--temperature", "3",
                "--alpha", "0.25", "--max-steps", "2", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    config = read_json(run_dir / "config.json")
    assert (config["teacher"], config["temperature"], config["alpha"]) == (str(teacher_run), 3.0, 0.25)


def test_a_teacher_that_would_read_other_inputs_or_classes_is_refused(teacher_run, tmp_path):
    import dataclasses

    from layerloom.runtime.data.transforms import build_transforms
    from layerloom.runtime.distillation import load_teacher

    # why: the teacher (trained on normalised digits) on the raw digits a normalize-off run would hand it
    teacher, _meta = load_teacher(teacher_run, torch.device("cpu"))
    data = mnist_small(64, 500)
    x, y = data.val.batch(torch.arange(len(data.val)))            # floats in [0, 1], as a run reads them
    normalise = build_transforms(data.info, augment=None, normalize=True, train=False)
    with torch.no_grad():
        own, raw = teacher(normalise(x)), teacher(x)
    assert (own.argmax(1) == y).double().mean() > 0.9
    # its soft targets at T = 4 would be others than the ones it learned to give (its logits shrink ~3x)
    assert F.kl_div(F.log_softmax(raw / 4, 1), F.log_softmax(own / 4, 1), reduction="batchmean", log_target=True) > 0.1
    rec = Recorder()
    Trainer(half_lenet(), {"epochs": 1, "teacher": str(teacher_run), "normalize": False}, rec, runs_base=tmp_path,
            data=data).run()
    (failed,) = rec.of("failed")
    assert "was trained with normalize on, but this run has it off" in failed["message"]
    assert "set normalize on as in the teacher's run" in failed["message"]
    letters = dataclasses.replace(data.info, name="letters", class_names=tuple("abcdefghij"))
    rec = Recorder()
    Trainer(half_lenet(), {"epochs": 1, "teacher": str(teacher_run)}, rec, runs_base=tmp_path,
            data=DataBundle(letters, data.train, data.val)).run()
    (failed,) = rec.of("failed")
    assert "was trained on mnist-sample's classes, which differ from letters's" in failed["message"]
