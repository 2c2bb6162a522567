"""Feature taps: what chosen blocks compute for one fixed probe sample, as small CPU arrays.

At most every `interval` seconds, and at each epoch's last step, the trainer asks the taps for a
capture: the model runs on the probe sample in eval mode through a torch.fx Interpreter that keeps
the values of the tapped blocks' nodes (node names are block ids, so modules and functions such as
Add alike; recurrent blocks give their hidden state at every step). The interpreter runs only for
that probe pass: nothing is paid on the training steps, and nothing at all when no block is tapped.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from torch import fx

MAX_CHANNELS = 64


def to_uint8(x: torch.Tensor, per_channel: bool) -> np.ndarray:
    """Min-max normalise to 0..255; per channel for [C, ...] images, globally otherwise."""
    x = x.detach().float().cpu()
    if per_channel and x.dim() >= 2:
        flat = x.reshape(x.shape[0], -1)
        lo = flat.min(dim=1).values.view(-1, *([1] * (x.dim() - 1)))
        hi = flat.max(dim=1).values.view(-1, *([1] * (x.dim() - 1)))
    else:
        lo, hi = x.min(), x.max()
    scaled = (x - lo) / (hi - lo).clamp_min(1e-12)
    return (scaled * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def describe_activation(block_id: str, value: torch.Tensor, probe_index: int) -> dict:
    """The `feature_maps` payload for one block's activation of the probe (batch dim removed)."""
    a = value[0] if value.dim() > 0 else value
    event = {"type": "feature_maps", "block": block_id, "probe_index": probe_index,
             "shape": tuple(a.shape)}
    if a.dim() == 3:          # C×H×W: one image per channel
        event.update(kind="image", channels=int(a.shape[0]), maps=to_uint8(a[:MAX_CHANNELS], per_channel=True))
    elif a.dim() == 2:        # T×H (recurrent) or C×L: one heatmap
        event.update(kind="sequence", maps=to_uint8(a, per_channel=False),
                     values=a.detach().float().cpu().numpy())
    else:                     # a vector (Linear output): values for a bar view
        flat = a.reshape(-1)
        event.update(kind="vector", values=flat.detach().float().cpu().numpy(),
                     maps=to_uint8(flat, per_channel=False))
    return event


class _Recorder(fx.Interpreter):
    def __init__(self, gm, wanted):
        super().__init__(gm)
        self.wanted = wanted
        self.seen: dict[str, torch.Tensor] = {}

    def run_node(self, n):
        out = super().run_node(n)
        if not isinstance(out, torch.Tensor):
            return out
        if n.name in self.wanted and n.name not in self.seen:
            self.seen[n.name] = out.detach()
        elif n.name.endswith("_sequence") and n.name[:-len("_sequence")] in self.wanted:
            # a recurrent block: its hidden state at every step (T×H), even when it passes on the last
            self.seen[n.name[:-len("_sequence")]] = out.detach()
        return out


class FeatureTaps:
    """Thread-safe set of tapped block ids plus the probe sample; `capture` runs the probe pass."""

    def __init__(self, blocks=(), interval: float = 0.3):
        self._lock = threading.Lock()
        self._blocks: set[str] = set(blocks)
        self.interval = interval
        self._last = 0.0
        self._force = True

    def set_blocks(self, blocks) -> None:
        """Tap these blocks; a change is captured at the next step (the same set again changes nothing: the
        window names its taps again as a run starts, and a second capture would redraw its maps for nothing)."""
        with self._lock:
            if set(blocks) != self._blocks:
                self._blocks = set(blocks)
                self._force = True

    def new_run(self) -> None:
        """A run starts with these taps: its first step captures, whenever the last capture was."""
        with self._lock:
            self._force = True

    @property
    def blocks(self) -> set[str]:
        with self._lock:
            return set(self._blocks)

    def due(self, epoch_end: bool = False) -> bool:
        """Whether to capture now: some block is tapped and `interval` has passed, or the taps changed,
        or it is an epoch's last step (the maps left on screen are those of the model as the epoch ended,
        however short the epoch)."""
        if not self._blocks:
            return False
        now = time.monotonic()
        return epoch_end or self._force or now - self._last >= self.interval

    @torch.no_grad()
    def capture(self, model: fx.GraphModule, probe: torch.Tensor, probe_index: int) -> list[dict]:
        """Run the probe through the model; return feature_maps events and a `probe` event."""
        with self._lock:
            wanted = set(self._blocks)
            self._force = False
        self._last = time.monotonic()
        was_training = model.training
        model.eval()
        try:
            recorder = _Recorder(model, wanted)
            out = recorder.run(probe)
        finally:
            model.train(was_training)
        events = [describe_activation(b, v, probe_index) for b, v in recorder.seen.items()]
        logits = out[0] if isinstance(out, tuple) else out
        if isinstance(logits, torch.Tensor) and logits.dim() == 2:
            probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
            events.append({"type": "prediction", "probe_index": probe_index, "probabilities": probs})
        return events


def probe_image(x: torch.Tensor):
    """The raw probe sample as uint8 for display (images), or its values otherwise."""
    if x.is_floating_point() and x.dim() == 3:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if x.is_floating_point():
        return to_uint8(x, per_channel=False)
    return x.cpu().numpy()
