"""The trainer's events and the metrics they carry.

Every event is a dict with a "type":
    started       run_dir, device, threads, epochs, steps_per_epoch, total_steps, start_step, num_train,
                  num_val, dataset, class_names, config, params, warnings, resumed_from, probe_index,
                  probe_label, probe_input (uint8 image or values)
    step          step, epoch, epoch_progress, total_steps, loss (mean since the last step event), lr,
                  samples_per_s; at most about 1 / STEP_EVENT_INTERVAL per second
    epoch_end     epoch, step, train_loss, val_loss, val_accuracy, lr, seconds (the epoch with validation),
                  train_seconds (its training steps only), per_class_accuracy,
                  confusion (numpy, [true, predicted]; only the first confusion_classes classes when there are
                  more than CONFUSION_CLASSES), confusion_classes, val_predictions, val_labels, val_indices
    feature_maps  block, step, probe_index, shape, kind ("image": maps uint8 [C,H,W] per channel;
                  "sequence": maps uint8 [T,H]; "vector": values float32 [F])
    prediction    step, probe_index, probabilities (numpy)
    checkpoint    path, epoch, step
    memory        (CUDA) step, estimate_bytes, actual_bytes (max_memory_allocated after the first step), ratio,
                  categories, method; or error when no estimate could be made
    threads       threads (the intra-op count chosen by measuring), previous, reason ("start", "slower",
                  "recheck"), step, timings_ms (median step time per count tried); also in threads.json
    paused / resumed / lr_changed
    finished      stopped, summary, run_dir
    failed        message (what happened and what to do), step
"""
from __future__ import annotations

import numpy as np
import torch

STEP_EVENT_INTERVAL = 0.05   # seconds: at most ~20 step events a second
GRID_SAMPLES = 32            # validation samples whose predictions go with each epoch_end
# The confusion matrix grows with the square of the class count: 40,000 classes would need 12.8 GB for
# the matrix alone. Above CONFUSION_CLASSES it covers the first CONFUSION_CLASSES classes only (their
# rows and columns; 8 MB at most), which is also more than a matrix view can draw one cell per pixel.
# Accuracy and per-class accuracy still count every class.
CONFUSION_CLASSES = 1000


def epoch_metrics(model, val_set, fetch, loss_fn, num_outputs: int, info, batch_size: int,
                  stopped=lambda: False) -> dict | None:
    """Validation loss, accuracy, per-class accuracy and confusion matrix over the whole split; None when
    `stopped()` held before a batch (a Stop pressed during a long validation ends it within a batch).
    Memory: the matrix (at most CONFUSION_CLASSES squared) and a few vectors of the class count."""
    n = len(val_set)
    classes = max(info.num_classes, 1)
    kept = min(classes, CONFUSION_CLASSES)
    confusion = torch.zeros(kept, kept, dtype=torch.int64)
    correct = torch.zeros(classes, dtype=torch.int64)
    totals = torch.zeros(classes, dtype=torch.int64)
    total_loss = 0.0
    first_preds = None
    for start in range(0, n, batch_size):
        if stopped():
            return None
        idx = torch.arange(start, min(n, start + batch_size))
        x, y = fetch(idx)
        logits = model(x)
        total_loss += float(loss_fn(logits, y)) * len(idx)
        pred = logits.argmax(dim=1)
        if first_preds is None:
            first_preds = (pred[:GRID_SAMPLES].cpu().numpy(), y[:GRID_SAMPLES].cpu().numpy())
        y, pred = y.cpu().long(), pred.cpu().long()
        valid = (y >= 0) & (y < classes)
        y, pred = y[valid], pred[valid]
        totals += y.bincount(minlength=classes)[:classes]
        correct += y[pred == y].bincount(minlength=classes)[:classes]
        shown = (y < kept) & (pred >= 0) & (pred < kept)        # one count per sample: no class-squared buffer
        confusion.index_put_((y[shown], pred[shown]), torch.ones(int(shown.sum()), dtype=torch.int64),
                             accumulate=True)
    per_class = (correct.double() / totals.clamp_min(1).double()).numpy()
    return {
        "val_loss": total_loss / n,
        "val_accuracy": float(correct.sum()) / n,
        "per_class_accuracy": per_class.astype(np.float32),
        "confusion": confusion.numpy(), "confusion_classes": kept,
        "val_predictions": first_preds[0], "val_labels": first_preds[1],
        "val_indices": np.arange(min(GRID_SAMPLES, n)),
    }


def explain_step_failure(step: int, exc: Exception, device) -> str:
    """A training-step exception in words a person can act on."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text.lower():
        return (f"step {step}: the {device} device ran out of memory. Lower the batch size or use a smaller "
                "network or input size.")
    if "index out of range" in text and "self" in text:
        return (f"step {step}: a token id is larger than an Embedding's num_embeddings allows: set num_embeddings "
                'to "auto" (the data set\'s vocabulary size) or larger.')
    if "Target" in text and "out of bounds" in text:
        return f"step {step}: a label is outside the network's outputs ({text}): set the last Linear's out_features to the number of classes."
    return f"step {step}: the model failed on a training batch ({type(exc).__name__}: {text})."
