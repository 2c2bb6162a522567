"""The validation metrics of a data set with many classes: the confusion matrix is bounded (it grew with the
square of the class count, 16 bytes per cell per batch, until 40,000 labels took 21 GB), and every number
agrees with a plain count made with numpy."""
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from layerloom.runtime import events
from layerloom.runtime.events import epoch_metrics


def _metrics(labels, preds, classes, outputs, batch_size):
    """epoch_metrics over a 'model' that predicts `preds` for the samples `labels` are the classes of."""
    y_all, p_all = torch.as_tensor(labels, dtype=torch.int64), torch.as_tensor(preds, dtype=torch.int64)

    def model(idx):
        return F.one_hot(p_all[idx], outputs).to(torch.float32) * 5.0

    return epoch_metrics(model, range(len(labels)), lambda idx: (idx, y_all[idx]), F.cross_entropy, outputs,
                         SimpleNamespace(num_classes=classes), batch_size)


def _reference(labels, preds, classes, kept):
    labels, preds = np.asarray(labels), np.asarray(preds)
    full = np.zeros((classes, max(classes, int(preds.max()) + 1)), dtype=np.int64)
    np.add.at(full, (labels, preds), 1)
    totals = full.sum(axis=1)
    per_class = np.diagonal(full)[:classes] / np.maximum(totals, 1)
    return full[:kept, :kept], per_class, np.trace(full[:, :classes]) / len(labels)


@settings(derandomize=True, max_examples=80, deadline=None, database=None)
@given(classes=st.integers(1, 12), extra=st.integers(0, 3), batch_size=st.integers(1, 40), data=st.data())
def test_the_metrics_agree_with_a_count_made_with_numpy(classes, extra, batch_size, data):
    n = data.draw(st.integers(1, 120), label="samples")
    labels = data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n), label="labels")
    preds = data.draw(st.lists(st.integers(0, classes + extra - 1), min_size=n, max_size=n), label="predictions")
    m = _metrics(labels, preds, classes, classes + extra, batch_size)
    confusion, per_class, accuracy = _reference(labels, preds, classes, classes)
    np.testing.assert_array_equal(m["confusion"], confusion)
    np.testing.assert_allclose(m["per_class_accuracy"], per_class.astype(np.float32))
    assert np.isclose(m["val_accuracy"], accuracy) and m["confusion_classes"] == classes
    assert m["per_class_accuracy"].shape == (classes,)


def test_many_classes_keep_a_bounded_matrix_and_count_every_class(monkeypatch):
    rng = np.random.default_rng(0)
    classes = 3000
    labels = rng.integers(0, classes, 4000)
    preds = np.where(rng.random(4000) < 0.5, labels, rng.integers(0, classes, 4000))
    m = _metrics(labels, preds, classes, classes, 256)
    kept = events.CONFUSION_CLASSES
    assert kept * kept * 8 <= 8_000_000                        # the matrix is at most 8 MB
    confusion, per_class, accuracy = _reference(labels, preds, classes, kept)
    assert m["confusion"].shape == (kept, kept) and m["confusion_classes"] == kept
    np.testing.assert_array_equal(m["confusion"], confusion)    # the first classes, as the matrix view names them
    np.testing.assert_allclose(m["per_class_accuracy"], per_class.astype(np.float32))
    assert np.isclose(m["val_accuracy"], accuracy)
    # a smaller bound, to see the cut where it is
    monkeypatch.setattr(events, "CONFUSION_CLASSES", 40)
    m = _metrics(labels, preds, classes, classes, 100)
    np.testing.assert_array_equal(m["confusion"], _reference(labels, preds, classes, 40)[0])
    assert m["per_class_accuracy"].shape == (classes,)
