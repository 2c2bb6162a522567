"""A run's summary judges the weights it ends with."""
import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.evaluation import evaluation_data
from layerloom.runtime.trainer import Trainer


def test_max_steps_part_way_through_an_epoch_validates_the_last_weights(tmp_path):
    """The summary quoted the first epoch's validation although max_steps had trained 2 more steps, so a
    sweep ranked such trials by weights they no longer had."""
    doc = load_graph(preset_path("lenet5"))
    config = {"epochs": 3, "batch_size": 32, "max_steps": 9, "seed": 1, "threads": 1, "lr": 0.01,
              "dataset_options": {"train_count": 224}}          # 7 steps an epoch: 9 ends epoch 2 at step 2
    trainer = Trainer(doc, config, None, runs_base=tmp_path)
    summary = trainer.run()
    assert summary["steps"] == 9 and summary["epochs"] == 1
    checkpoint = load_checkpoint(latest_checkpoint(trainer.run_dir))
    assert checkpoint.meta["step"] == 9
    model = compile_graph(doc, weights=False)
    model.load_state_dict(checkpoint.weights)
    data = evaluation_data(trainer.config.to_dict(), input_shape=(1, 28, 28))
    with torch.no_grad():
        accuracy = float((data.predictions(model.eval()) == data.val_y).double().mean())
    assert summary["val_accuracy"] == accuracy
