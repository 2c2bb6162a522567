"""The twelve pretraining figures: none is a shapes class, each is drawn, the same seed gives the same images."""
import math

import torch

from layerloom.runtime.data import shapes
from layerloom.runtime.data.figures import MASKS, NAMES, generate_figures


def _grid(n=96):
    c = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2.4 - 1.2
    return c.view(1, n), c.view(n, 1)


def _rotated(mask_of, angle):
    x, y = _grid()
    cos, sin = math.cos(angle), math.sin(angle)
    return mask_of(x * cos + y * sin, y * cos - x * sin)


def test_no_figure_is_a_shapes_class_at_any_rotation():
    assert not set(NAMES) & set(shapes.CLASSES) and len(NAMES) == len(MASKS) == 12
    x, y = _grid()
    figures = [m(x.expand(96, 96), y.expand(96, 96)) for m in MASKS]
    for f, name in zip(figures, NAMES):
        assert 0.05 < float(f.float().mean()) < 0.6, name          # a figure, not empty, not the whole square
    for kind, cls in enumerate(shapes.CLASSES):
        for turn in range(36):
            a = _rotated(lambda u, v: shapes._mask(kind, u, v), turn * math.pi / 18)
            for f, name in zip(figures, NAMES):
                iou = float((a & f).sum()) / float((a | f).sum())
                assert iou < 0.8, (name, cls, turn, iou)


def test_generated_like_shapes_balanced_and_deterministic():
    x, y = generate_figures(120, size=24, seed=3)
    assert x.shape == (120, 3, 24, 24) and x.dtype == torch.uint8
    assert torch.bincount(y, minlength=12).tolist() == [10] * 12
    x2, y2 = generate_figures(120, size=24, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(generate_figures(120, size=24, seed=4)[0], x)
    # the default classes are untouched by the figures parameter
    a, la = shapes.generate(40, size=24, seed=3)
    b, lb = shapes.generate(40, size=24, seed=3, figures=None)
    assert torch.equal(a, b) and torch.equal(la, lb) and int(la.max()) == 9


def test_registered_as_a_data_set_that_follows_the_input_like_shapes():
    import pytest

    from layerloom.runtime.data import DataError, dataset_info, load_dataset
    from layerloom.runtime.data.registry import dataset_options
    from layerloom.runtime.data.figures import MEAN, STD
    assert dataset_options("figures") == dataset_options("shapes")
    info = dataset_info("figures", input_shape=(1, 28, 28), train_count=36, val_count=24)
    assert info.sample_shape == (1, 28, 28) and info.class_names == NAMES and info.num_classes == 12
    assert info.title == "Figures (12 classes, generated)" and not info.needs_download
    bundle = load_dataset("figures", input_shape=(1, 28, 28), train_count=36, val_count=24, seed=5)
    assert bundle.info == info
    assert bundle.train.images.shape == (36, 1, 28, 28) and bundle.train.class_counts(12).tolist() == [3] * 12
    again = load_dataset("figures", input_shape=(1, 28, 28), train_count=36, val_count=24, seed=5)
    assert torch.equal(bundle.train.images, again.train.images) and torch.equal(bundle.val.labels, again.val.labels)
    assert not torch.equal(bundle.train.images[:24], bundle.val.images)          # separate streams
    # its own streams: not the shapes set's images with other labels
    same_seed_shapes = load_dataset("shapes", input_shape=(1, 28, 28), train_count=36, val_count=24, seed=5)
    assert not torch.equal(bundle.train.images, same_seed_shapes.train.images)
    # the normalisation it declares is what it draws
    x = load_dataset("figures", train_count=3000, val_count=12, seed=1).train.images.float() / 255
    assert abs(float(x.mean()) - MEAN) < 0.01 and abs(float(x.std()) - STD) < 0.01
    with pytest.raises(DataError, match="figures can be drawn with 1 \\(grayscale\\) or 3"):
        dataset_info("figures", channels=2)


def test_pretrained_on_figures_a_shapes_run_starts_from_it_with_a_new_head(tmp_path):
    """The transfer the figures are for, by data set name as the app and `layerloom train` do it: a run on
    figures (12 classes), then a run on shapes (10) initialised from that run: every tensor but the head's
    starts as the figures run left it."""
    from layerloom.graph import GraphDocument
    from layerloom.runtime.trainer import Trainer

    def net(head):
        doc = GraphDocument("figures-then-shapes")
        last = doc.add_block("Input", {"shape": [1, 28, 28]})
        for kind, p in (("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}), ("ReLU", {}),
                        ("Flatten", {}), ("Linear", {"out_features": head})):
            b = doc.add_block(kind, p)
            doc.connect(last, b)
            last = b
        doc.connect(last, doc.add_block("Output"))
        return doc

    events = []
    small = {"train_count": 256, "val_count": 48}
    first = Trainer(net(12), {"dataset": "figures", "dataset_options": small, "epochs": 1, "batch_size": 64},
                    events.append, runs_base=tmp_path / "figures")
    assert first.run()["status"] == "finished"
    assert [e for e in events if e["type"] == "started"][0]["num_train"] == 256
    trained = {k: v.clone() for k, v in first.model.state_dict().items()}

    class SeeStart:
        def setup(self, trainer):
            self.start = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    seen, events = SeeStart(), []
    second = Trainer(net(10), {"dataset": "shapes", "dataset_options": small, "epochs": 1, "batch_size": 64,
                               "init_from": str(first.run_dir)}, events.append, runs_base=tmp_path / "shapes",
                     extensions=[seen])
    assert second.run()["status"] == "finished"
    assert torch.equal(seen.start["conv1.weight"], trained["conv1.weight"])
    assert seen.start["fc1.weight"].shape == (10, 676) and trained["fc1.weight"].shape == (12, 676)
    report = [e for e in events if e["type"] == "weights_loaded"][0]
    assert set(report["new"]) == {"fc1.weight", "fc1.bias"} and {"conv1.weight", "conv1.bias"} <= set(report["loaded"])


def test_a_figures_run_s_project_draws_the_same_images_without_layerloom(tmp_path, project_runner):
    """The standalone project of a run trained on figures writes the generators out as code: its train.py's
    data code, run where only torch is, gives Layerloom's images and labels for the same settings."""
    import textwrap

    from layerloom.runtime.data import load_dataset
    from layerloom.runtime.export.project import figures_module_source, shapes_module_source
    from layerloom.runtime.export.train_template import data_loader_code

    (tmp_path / "shapes_data.py").write_text(shapes_module_source())
    (tmp_path / "figures_data.py").write_text(figures_module_source())
    cfg = {"seed": 4, "dataset_options": {"train_count": 30, "val_count": 18}}
    body = data_loader_code("figures", cfg, (1, 20, 20), {})
    code = "import torch\n\ndef load():\n" + body + textwrap.dedent("""

        x_tr, y_tr, x_va, y_va = load()
        torch.save({"x_tr": x_tr, "y_tr": y_tr, "x_va": x_va, "y_va": y_va}, "drawn.pt")
    """)
    # run in tmp_path, where the project's modules are, and where Layerloom cannot be imported
    proc = project_runner.run(tmp_path, code="import importlib.util\n"
                              "assert importlib.util.find_spec('figures_data') is not None\n" + code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = torch.load(tmp_path / "drawn.pt", weights_only=True)
    bundle = load_dataset("figures", input_shape=(1, 20, 20), seed=4, train_count=30, val_count=18)
    assert torch.equal(drawn["x_tr"], bundle.train.images.float() / 255)
    assert torch.equal(drawn["y_tr"], bundle.train.labels) and torch.equal(drawn["y_va"], bundle.val.labels)
    assert torch.equal(drawn["x_va"], bundle.val.images.float() / 255)
