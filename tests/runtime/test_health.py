"""Training health: statistics equal plain PyTorch's, problems are flagged early, training is unchanged."""
import math

import pytest
import torch

from layerloom.app.main import main
from layerloom.graph import GraphDocument, analyze, compile_graph
from layerloom.presets import preset_path
from layerloom.runtime.health import HealthCollector, _fmt_ratio, read_health
from layerloom.runtime.health_indicators import (EXPLODING_UPDATE, grouped_texts, level_of, read_summary,
                                                 worse)
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, lenet, mnist_small, small_net, weights_equal


def _dead_net():
    doc = GraphDocument("dead")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    ids = []
    for kind, p in [("Flatten", {}), ("Linear", {"out_features": 32}), ("ReLU", {}), ("Linear", {"out_features": 10})]:
        b = doc.add_block(kind, p)
        doc.connect(last, b)
        last = b
        ids.append(b)
    doc.connect(last, doc.add_block("Output"))
    return doc, ids


def test_a_bias_of_minus_10_before_a_relu_is_flagged_dead_at_the_first_sample(tmp_path):
    doc, (_, fc, relu, _) = _dead_net()

    class Bias:
        def setup(self, trainer):
            with torch.no_grad():
                trainer.model.get_submodule(fc).bias.fill_(-10.0)
    rec = Recorder()
    t = Trainer(doc, {"epochs": 1, "max_steps": 2}, rec, runs_base=tmp_path, data=mnist_small(256, 64),
                extensions=[Bias(), HealthCollector()])
    assert t.run()["status"] == "finished"
    first = rec.of("health")[0]
    assert first["step"] == 1
    dead = [p for p in first["new_problems"] if p["code"] == "health.dead"]
    assert [p["block"] for p in dead] == [fc]
    assert dead[0]["text"].startswith(f"{fc}: 100 % of channels are dead")
    table = read_health(t.run_dir)
    assert table["steps"] == [1]
    assert table["dead_frac"][relu] == [1.0] and table["frac_nonpos"][relu] == [1.0]
    # the at-a-glance indicator agrees, names the same block, and the run keeps it in health.json
    shown = {i["key"]: i for i in first["indicators"]}
    assert (shown["dead"]["level"], shown["dead"]["block"], shown["dead"]["value"]) == ("bad", fc, "100 %")
    assert shown["nonfinite"]["level"] == "ok"
    saved = read_summary(t.run_dir)
    assert saved["samples"] == len(rec.of("health")) and level_of(saved) == "bad"
    assert {"key": "dead", "level": "bad", "block": fc} == {k: v for k, v in saved["worst"][1].items()
                                                           if k in ("key", "level", "block")}
    assert [p["code"] for p in saved["problems"]] == ["health.dead"]


def test_lr_10_is_flagged_exploding_before_the_loss_blows_up(tmp_path):
    rec = Recorder()

    class PerStep:      # every step's own loss (step events average over a time window, so they depend on speed)
        losses: list = []

        def after_step(self, trainer, loss_value):
            self.losses.append(loss_value)
    per_step = PerStep()
    t = Trainer(lenet(), {"epochs": 1, "max_steps": 6, "lr": 10.0, "optimizer": "adam"}, rec, runs_base=tmp_path,
                data=mnist_small(1024, 64), extensions=[HealthCollector(every=50), per_step])
    t.run()
    first = rec.of("health")[0]
    assert first["step"] == 1
    exploding = {p["block"] for p in first["new_problems"] if p["code"] == "health.exploding"}
    assert {"fc1", "fc3"} <= exploding
    update = next(i for i in first["indicators"] if i["key"] == "update")
    assert update["level"] == "bad" and update["block"] in exploding and float(update["value"]) > 1
    assert level_of(read_summary(t.run_dir)) == "bad"
    # the flag came at step 1; the loss then blew up (or became NaN, which ends the run later)
    losses = per_step.losses
    failed = rec.of("failed")
    assert (failed and failed[0]["step"] > 1) or max(losses[1:]) > 1000 * losses[0], (losses, failed)


def test_statistics_equal_plain_pytorch_autograd():
    """The side pass's activation stats and ∂loss/∂output RMS against a hand-run chain with retain_grad."""
    doc = lenet()
    model = compile_graph(doc, analyze(doc), seed=0).train()
    x = torch.rand(16, 1, 28, 28)
    y = torch.randint(0, 10, (16,))

    class FakeTrainer:
        pass
    tr = FakeTrainer()
    tr.doc, tr.model, tr._loss = doc, model, torch.nn.functional.cross_entropy
    h = HealthCollector()
    h.setup(tr)
    stats = h._side_pass(tr, x, y)
    values, v = {}, x
    for name in h.nodes:
        v = model.get_submodule(name)(v)
        v.retain_grad()
        values[name] = v
    torch.nn.functional.cross_entropy(v, y).backward()
    for name, a in values.items():
        a, grad = a.detach(), a.grad
        s = stats[name]
        assert s["act_mean"] == pytest.approx(float(a.mean()), rel=1e-5, abs=1e-7)
        assert s["act_std"] == pytest.approx(float(a.std()), rel=1e-5)
        assert s["frac_nonpos"] == pytest.approx(float((a <= 0).float().mean()))
        assert s["grad_rms"] == pytest.approx(float(grad.pow(2).mean().sqrt()), rel=1e-4)


def test_the_collector_leaves_training_unchanged(tmp_path):
    """Dropout's random numbers and BatchNorm's statistics are put back after each sample."""
    runs = []
    for extensions in ([], [HealthCollector(every=1)]):
        t = Trainer(small_net(dropout=True), {"epochs": 1, "max_steps": 4, "batch_size": 64}, None,
                    runs_base=tmp_path, data=mnist_small(256, 64), extensions=extensions)
        t.run()
        runs.append(t.model.state_dict())
    assert weights_equal(*runs)


def test_train_cli_prints_health_warnings_and_writes_health_csv(tmp_path, capsys):
    lenet_file = str(preset_path("lenet5"))
    assert main(["train", lenet_file, "--max-steps", "2", "--lr", "10", "--out", str(tmp_path / "on"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    run = next((tmp_path / "on").iterdir())
    table = read_health(run)
    # every block's weights explode at once: one warning names each with its own figure from health.csv,
    # and gives the advice once, not once per block
    warnings = [line for line in out.splitlines() if line.startswith("warning at step 1: ")]
    exploding = {b: v[0] for b, v in table["update_ratio"].items() if v[0] > EXPLODING_UPDATE}
    assert set(exploding) == {"conv1", "conv2", "fc1", "fc2", "fc3"}
    assert len(warnings) == 1 and warnings[0].count("lower the learning rate") == 1, warnings
    assert "the weights are exploding" in warnings[0]
    for block, ratio in exploding.items():
        assert f"{block} (update ratio {_fmt_ratio(ratio)})" in warnings[0]
    assert table["steps"] == [1] and "conv2" in table["blocks"]
    assert all(math.isfinite(v[0]) for v in table["update_ratio"].values() if not math.isnan(v[0]))
    assert main(["train", lenet_file, "--max-steps", "2", "--health-every", "0", "--out", str(tmp_path / "off"),
                 "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().out
    assert not (next((tmp_path / "off").iterdir()) / "health.csv").exists()


def test_the_lenet_preset_at_its_own_settings_trains_without_health_warnings(tmp_path):
    rec = Recorder()
    t = Trainer(lenet(), {"epochs": 2, "max_steps": 30}, rec, runs_base=tmp_path, data=mnist_small(1024, 64),
                extensions=[HealthCollector(every=10)])
    assert t.run()["status"] == "finished"
    samples = rec.of("health")
    assert len(samples) == 3 and all(e["problems"] == [] for e in samples), [e["problems"] for e in samples]


def test_the_worst_indicator_of_a_run_is_kept_and_a_broken_summary_reads_as_none(tmp_path):
    ok = [{"key": "update", "level": "ok", "value": "0.01"}, {"key": "dead", "level": "bad", "value": "60 %"}]
    later = [{"key": "update", "level": "warn", "value": "0.07"}, {"key": "dead", "level": "ok", "value": "0 %"}]
    assert [i["value"] for i in worse(ok, later)] == ["0.07", "60 %"]
    assert worse(None, later) == later
    (tmp_path / "health.json").write_text("{not json", encoding="utf-8")
    assert read_summary(tmp_path) is None and level_of(None) is None
    assert read_summary(tmp_path / "missing") is None


def test_one_problem_reads_as_its_block_text_and_older_events_read_as_they_were():
    def problem(block, detail, advice="lower it", code="health.large-updates"):
        return {"block": block, "code": code, "detail": detail, "advice": advice,
                "text": f"{block}: {detail}: {advice}", "message": f"{detail}: {advice}"}
    assert grouped_texts([problem("fc1", "update ratio 0.3")]) == ["fc1: update ratio 0.3: lower it"]
    assert grouped_texts([problem("fc1", "update ratio 0.3"), problem("fc2", "update ratio 0.2"),
                          problem("fc2", "its gradient is 1e-05 of fc3's", "add BatchNorm", "health.vanishing")]) == [
        "fc1 (update ratio 0.3) and fc2 (update ratio 0.2): lower it",
        "fc2: its gradient is 1e-05 of fc3's: add BatchNorm"]
    older = [{"block": b, "code": "health.dead", "message": "dead", "text": f"{b}: dead"} for b in ("fc1", "fc2")]
    assert grouped_texts(older) == ["fc1: dead", "fc2: dead"]


def test_weights_that_start_at_zero_are_not_flagged_exploding_at_the_first_step(tmp_path):
    """A block whose weights start at zero (a ViT class token) has no update ratio at its first step: it read as
    infinite, and every such run warned at step 1 that its weights were exploding."""
    doc, (_, fc, _, head) = _dead_net()

    class Zero:
        def setup(self, trainer):
            with torch.no_grad():
                for p in trainer.model.get_submodule(head).parameters():
                    p.zero_()
    rec = Recorder()
    t = Trainer(doc, {"epochs": 1, "max_steps": 2, "lr": 0.01}, rec, runs_base=tmp_path, data=mnist_small(256, 64),
                extensions=[Zero(), HealthCollector()])
    assert t.run()["status"] == "finished"
    first = rec.of("health")[0]
    assert first["step"] == 1 and not [p for p in first["new_problems"] if p["block"] == head], first["new_problems"]
    table = read_health(t.run_dir)
    (ratio,) = table["update_ratio"][head]
    assert ratio is None or math.isnan(ratio)              # written as no value (health.csv reads it back as NaN)
    (moved,) = table["update_ratio"][fc]      # weights that are not zero: a ratio (0: no gradient past a zero head)
    assert math.isfinite(moved) and 0 <= moved < EXPLODING_UPDATE
    assert not torch.equal(t.model.get_submodule(head).weight, torch.zeros_like(t.model.get_submodule(head).weight))
