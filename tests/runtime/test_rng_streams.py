"""A training run draws its dropout from a stream of its own: networks built in other threads
meanwhile (Export, Step, Prune while it trains; seeded or not) leave its numbers alone."""
import threading

import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.trainer import Trainer


def _mlp_with_dropout():
    doc = load_graph(preset_path("mlp"))
    doc.disconnect(next(e for e in doc.edges if e.src == "relu1"))
    doc.add_block("Dropout", {"p": 0.5}, block_id="drop")
    doc.connect("relu1", "drop")
    doc.connect("drop", "fc2")
    return doc


def _train(doc, tmp_path, meanwhile=None):
    """The run's last weights, and how often `meanwhile()` was called in this thread while it trained."""
    config = {"epochs": 1, "max_steps": 25, "seed": 3, "threads": 1,
              "dataset_options": {"train_count": 800}}
    trainer = Trainer(doc, config, None, runs_base=tmp_path / "runs")
    thread = threading.Thread(target=trainer.run)
    thread.start()
    calls = 0
    while thread.is_alive() and meanwhile is not None:
        meanwhile()
        calls += 1
    thread.join()
    assert trainer.state == "finished"
    return load_checkpoint(latest_checkpoint(trainer.run_dir)).weights, calls


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_networks_built_in_another_thread_leave_a_runs_numbers_alone(tmp_path):
    """Before, the run's weights after 25 steps differed by up to 0.04 from the same run trained alone."""
    doc = _mlp_with_dropout()

    def build():
        compile_graph(doc, seed=0, weights=False)        # forks the default generator, and puts it back
        compile_graph(doc, weights=False)                # draws from it

    alone, _ = _train(doc, tmp_path / "a")
    beside, builds = _train(doc, tmp_path / "b", build)
    assert builds > 0 and _same(alone, beside)


def test_a_stream_is_the_default_generator_seeded_and_leaves_it_as_it_was():
    from layerloom.graph.rng import Stream
    torch.manual_seed(11)
    expected = torch.rand(5)
    torch.manual_seed(99)
    before = torch.get_rng_state()
    stream = Stream(11)
    with stream.drawing():
        first = torch.rand(3)
    outside = torch.rand(1)                 # the default generator goes on from where it was
    with stream.drawing():
        second = torch.rand(2)
    assert torch.equal(torch.cat([first, second]), expected)
    torch.set_rng_state(before)
    assert torch.equal(torch.rand(1), outside)
    assert torch.equal(Stream(state=stream.state).state, stream.state)


def test_a_step_of_step_mode_beside_a_run_leaves_the_runs_numbers_alone(tmp_path):
    """Step mode seeds the default generator for its dropout masks and puts it back: beside a run, the
    run could draw from the seeded generator in between."""
    from layerloom.runtime.step_mode import StepView
    doc = _mlp_with_dropout()
    view = StepView(compile_graph(doc, seed=0, weights=False), {"lr": 0.01}, torch.rand(8, 1, 28, 28),
                    torch.randint(0, 10, (8,)))
    alone, _ = _train(doc, tmp_path / "a")
    beside, steps = _train(doc, tmp_path / "b", view.step)
    assert steps > 0 and _same(alone, beside)
