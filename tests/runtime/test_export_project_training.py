"""An exported project's train.py trains as Layerloom trained: same batches, same weights after the steps. Each
train.py runs where Layerloom cannot be imported (the project_runner fixture, tests/runtime/conftest.py)."""
import pytest
import torch

from layerloom.graph import GraphDocument, save_graph
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.presets import preset_path
from layerloom.runtime.export import FormatFailure, export_model
from layerloom.runtime.trainer import Trainer


def _net_with_batchnorm():
    doc = GraphDocument("bn net")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    for kind, params in (("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}), ("ReLU", {}),
                         ("Flatten", {}), ("Linear", {"out_features": 16}), ("BatchNorm1d", {}), ("ReLU", {}),
                         ("Linear", {"out_features": 10}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    return doc


def _train_py(runner, project, *args, epoch: int = 1):
    """Run the project's train.py on the CPU (it must succeed); its process and its checkpoint after `epoch`."""
    proc = runner.run(project, *args, "--device", "cpu")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc, torch.load(project / "checkpoints" / f"epoch-{epoch}.pt", weights_only=True)


def test_train_py_takes_layerloom_batches_and_gives_the_same_weights(project_runner, tmp_path):
    # 4000 mnist-sample images in batches of 1333: three batches, and one image Layerloom leaves out
    # (a batch of one cannot train batch normalisation)
    cfg = {"epochs": 1, "batch_size": 1333, "optimizer": "sgd", "lr": 0.1, "seed": 3}
    trainer = Trainer(_net_with_batchnorm(), cfg, None, runs_base=tmp_path / "runs")
    assert trainer.run() is not None
    _, results = export_model(trainer.run_dir, ["project"], tmp_path / "export")
    project = results[0].path
    proc, theirs = _train_py(project_runner, project)
    assert "3 steps/epoch" in proc.stdout
    ours = load_checkpoint(trainer.run_dir)
    assert theirs["step"] == ours.meta["step"] == 3
    torch.testing.assert_close(theirs["model"], ours.weights, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data", [{"dataset": "mnist-sample", "normalize": False}, {}],
                         ids=["not normalised", "default data set"])
def test_train_py_of_an_untrained_graph_follows_its_settings(project_runner, tmp_path, data):
    # the graph's own settings: stop after two steps; no normalisation, or the default data set's
    doc = _net_with_batchnorm()
    doc.training.update({"epochs": 3, "max_steps": 2, "batch_size": 200, "schedule": "cosine", **data})
    save_graph(doc, tmp_path / "bn.loom.json")
    trainer = Trainer(doc, dict(doc.training), None, runs_base=tmp_path / "runs")
    assert trainer.run() is not None
    _, results = export_model(tmp_path / "bn.loom.json", ["project"], tmp_path / "export")
    project = results[0].path
    _, theirs = _train_py(project_runner, project)
    ours = load_checkpoint(trainer.run_dir)
    assert theirs["step"] == ours.meta["step"] == 2
    torch.testing.assert_close(theirs["model"], ours.weights, rtol=1e-4, atol=1e-5)


def test_an_untrained_graph_on_a_set_the_project_cannot_hold_is_not_said_to_be_trained(tmp_path):
    _, (failure,) = export_model(preset_path("rnn_classifier"), ["project"], tmp_path)
    assert isinstance(failure, FormatFailure)
    assert "this model trains on seq-mnist, so export the weights, ONNX or pt2 instead" in failure.message
    assert "was trained" not in failure.message


def test_train_py_epochs_option_sets_the_step_schedule_as_layerloom_does(project_runner, tmp_path):
    doc = _net_with_batchnorm()
    doc.training.update({"dataset": "mnist-sample", "epochs": 9, "batch_size": 2000, "schedule": "step",
                         "optimizer": "sgd", "lr": 0.1})
    save_graph(doc, tmp_path / "bn.loom.json")
    trainer = Trainer(doc, {**doc.training, "epochs": 3}, None, runs_base=tmp_path / "runs")   # decays after epoch 1
    assert trainer.run() is not None
    _, (project,) = export_model(tmp_path / "bn.loom.json", ["project"], tmp_path / "export")
    _, theirs = _train_py(project_runner, project.path, "--epochs", "3", epoch=3)
    ours = load_checkpoint(trainer.run_dir)
    assert theirs["step"] == ours.meta["step"] == 6
    torch.testing.assert_close(theirs["model"], ours.weights, rtol=1e-4, atol=1e-5)


class _Losses:
    def __init__(self):
        self.values = []

    def after_step(self, trainer, loss_value):
        self.values.append(loss_value)


def test_train_py_with_dropout_and_augmentation_gives_layerloom_losses_step_for_step(project_runner, tmp_path):
    # dropout and augmentation draw from the run's own random stream in both; building the network in
    # train.py draws from the default generator first, which must not change which units drop or images flip
    doc = GraphDocument("dropout net")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 32}), ("ReLU", {}), ("Dropout", {"p": 0.5}),
                         ("Linear", {"out_features": 10}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    cfg = {"dataset": "mnist-sample", "epochs": 1, "max_steps": 4, "batch_size": 32, "optimizer": "sgd", "lr": 0.5,
           "seed": 5, "threads": 1, "augment": {"hflip": True, "random_crop": 2}}
    doc.training.update(cfg)
    save_graph(doc, tmp_path / "drop.loom.json")
    losses = _Losses()
    trainer = Trainer(doc, cfg, None, runs_base=tmp_path / "runs", extensions=[losses])
    assert trainer.run() is not None
    _, (project,) = export_model(tmp_path / "drop.loom.json", ["project"], tmp_path / "export")
    _, theirs = _train_py(project_runner, project.path)
    assert len(losses.values) == 4
    # the same operations on the same numbers in one thread: the same losses, bit for bit
    assert theirs["losses"] == losses.values
    torch.testing.assert_close(theirs["model"], load_checkpoint(trainer.run_dir).weights, rtol=0, atol=0)


def test_train_py_trains_on_the_digits_a_train_count_kept(project_runner, tmp_path):
    # Layerloom keeps the first 50 training digits class by class in turn; train.py keeps the same ones
    doc = _net_with_batchnorm()
    cfg = {"dataset": "mnist-sample", "dataset_options": {"train_count": 50}, "epochs": 1, "batch_size": 16,
           "optimizer": "sgd", "lr": 0.1, "seed": 2, "threads": 1}
    doc.training.update(cfg)
    save_graph(doc, tmp_path / "few.loom.json")
    losses = _Losses()
    trainer = Trainer(doc, cfg, None, runs_base=tmp_path / "runs", extensions=[losses])
    assert trainer.run() is not None
    _, (project,) = export_model(tmp_path / "few.loom.json", ["project"], tmp_path / "export")
    proc, theirs = _train_py(project_runner, project.path)
    assert "training on 50 samples" in proc.stdout
    assert theirs["losses"] == losses.values and len(losses.values) == 4


def test_a_train_count_layerloom_would_refuse_is_refused_in_words(tmp_path):
    doc = _net_with_batchnorm()
    doc.training.update({"dataset": "mnist-sample", "dataset_options": {"train_count": "many"}})
    save_graph(doc, tmp_path / "bad.loom.json")
    _, (failure,) = export_model(tmp_path / "bad.loom.json", ["project"], tmp_path / "export")
    assert isinstance(failure, FormatFailure)
    assert "train_count='many' does not fit: give a whole number from 10 to 4,000" in failure.message
    assert not (tmp_path / "export" / "project").exists()


def test_train_py_reads_the_settings_as_layerloom_does(project_runner, tmp_path):
    # "SGD" and "Cross-Entropy" are Layerloom's sgd and cross_entropy: train.py must not fall back to Adam
    doc = _net_with_batchnorm()
    doc.training.update({"dataset": "mnist-sample", "dataset_options": {"train_count": 40}, "optimizer": "SGD",
                         "loss": "Cross-Entropy", "lr": 0.2, "batch_size": 20, "epochs": 1, "threads": 1})
    save_graph(doc, tmp_path / "sgd.loom.json")
    losses = _Losses()
    trainer = Trainer(doc, None, None, runs_base=tmp_path / "runs", extensions=[losses])
    assert trainer.run() is not None
    _, (project,) = export_model(tmp_path / "sgd.loom.json", ["project"], tmp_path / "export")
    _, theirs = _train_py(project_runner, project.path)
    assert theirs["losses"] == losses.values and len(losses.values) == 2
    assert "momentum_buffer" in str(theirs["optimizer"])


@pytest.mark.parametrize("settings, words", [({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam, adamw"),
                                             ({"lr": "fast"}, "lr must be a number, not 'fast'"),
                                             ({"batch_size": 0}, "batch_size must be between 1 and 65,536"),
                                             ({"augment": {"crop": 4}}, "Unknown augmentation crop: use random_crop"),
                                             ({"augment": {"hflip": "yes", "a\nb": 1}},
                                              "Unknown augmentation a\\nb: use random_crop"),
                                             ({"augment": {"hflip": "yes"}}, "hflip='yes' must be true or false"),
                                             ({"dataset_options": {"trian_count": 100, "a\nb": 1}},
                                              "mnist-sample has no option a\\nb, trian_count: it takes train_count")])
def test_settings_layerloom_would_refuse_stop_the_project_in_words(tmp_path, settings, words):
    doc = _net_with_batchnorm()
    doc.training.update({"dataset": "mnist-sample", **settings})
    save_graph(doc, tmp_path / "bad.loom.json")
    _, (failure,) = export_model(tmp_path / "bad.loom.json", ["project"], tmp_path / "export")
    assert isinstance(failure, FormatFailure) and words in failure.message, failure.line()
    assert not (tmp_path / "export" / "project").exists()


def test_train_py_never_gives_a_process_a_share_of_one_sample(tmp_path):
    # under torchrun each process takes a share of every batch: batch normalisation cannot train on one sample
    import ast
    _, (project,) = export_model(preset_path("mlp"), ["project"], tmp_path / "export")
    tree = ast.parse((project.path / "train.py").read_text(encoding="utf-8"))
    namespace = {"torch": torch, "math": __import__("math")}
    exec(compile(ast.Module([n for n in tree.body if getattr(n, "name", "") == "EpochBatches"], []), "train.py",
                 "exec"), namespace)

    def sizes(n, batch, world):
        x = torch.zeros(n, 1)
        least = 2 * world
        return [min(len(share) for share in xb.tensor_split(world))
                for xb, _ in namespace["EpochBatches"](x, x, batch, 0, least=least)]
    assert sizes(4003, 1000, 2) == [500] * 4                   # the last 3 would give a process 1
    assert sizes(4004, 1000, 2) == [500] * 4 + [2]
    assert sizes(4001, 1000, 1) == [1000] * 4 and sizes(4002, 1000, 1) == [1000] * 4 + [2]    # one process
    assert sizes(10, 3, 2) == [1, 1, 1]             # a batch of 3 in two processes (shares of 1 and 2), the 1 left
