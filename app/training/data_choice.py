"""The Training panel's data set: choosing it, loading it in the background, describing it, and the
fixes that change its settings. A part of TrainingUI (app/training/ui.py), which it is mixed into."""
from __future__ import annotations

import html

from PySide6.QtWidgets import QFileDialog

from layerloom.runtime.data import DataError, dataset_info
from layerloom.runtime.data.base import format_shape

from .. import edits, samples
from .data_loader import request_key
from ..panels.training import FILE_FILTERS, PATH_KINDS

LOADING_EXAMPLES = "Loading examples…"
NOTE = "<p style='margin-top:6px; margin-bottom:0px'>{}</p>"       # one of the data set's notes


class DataChoice:
    """The data-set half of TrainingUI: its methods use the TrainingUI's panel, loader and state."""

    # -- the data set -----------------------------------------------------------------------------
    def _input_shape(self):
        inputs = [b for b in self.session.document.blocks.values() if b.kind == "Input"]
        return tuple(inputs[0].full_params()["shape"]) if len(inputs) == 1 else None

    def _dataset_chosen(self, name: str) -> None:
        if name == self.dataset_name:
            return
        section = self.session.document.training
        self.run.cancel_start()         # ▶ Train was for the set chosen before
        self.loader.errors.clear()      # choosing again retries a set that failed to load
        self.data_key = None
        self.dataset_name = name
        self.dataset_options = dict(section.get("dataset_options") or {}) if section.get("dataset") == name else {}
        self._dataset_changed()

    def _apply_fix(self, fix: dict) -> None:
        """A fix from the check: a data setting (e.g. resize the images) here, a graph edit otherwise."""
        if fix.get("action") == "set_data_option":
            self.dataset_options[fix["option"]] = fix["value"]
            self.loader.errors.clear()
            self.data_key = None
            self._dataset_changed()
        else:
            edits.apply_fix(self.session, fix)

    def _choose_path(self) -> None:
        kind = PATH_KINDS.get(self.dataset_name, "file")
        start = str(self.dataset_options.get("path", ""))
        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self.win, "Folder of images (one subfolder per class)", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self.win, "Data file", start,
                                                  FILE_FILTERS.get(self.dataset_name, "All files (*)"))
        if path:
            self.dataset_options["path"] = path
            self.loader.errors.clear()
            self.data_key = None
            self._dataset_changed()

    def _dataset_changed(self) -> None:
        """The data set, its options or the Input changed: describe it, let "auto" follow it, load it."""
        self.panel.set_dataset(self.dataset_name, self.dataset_options.get("path"))
        self.info, self.info_error = None, ""
        try:
            self.info = dataset_info(self.dataset_name, input_shape=self._input_shape(), **self.dataset_options)
        except DataError as exc:
            self.info_error = str(exc)
        except (TypeError, ValueError) as exc:
            self.info_error = f"{self.dataset_name}: {exc}"
        # A file-based set whose file is not chosen yet describes nothing real: no data context then.
        concrete = self.info is not None and (self.dataset_name not in PATH_KINDS or self.dataset_options.get("path"))
        ctx = self.info.data_context() if concrete else None
        if ctx != self.session.data:
            self.session.set_data(ctx)      # the analysis must follow the new data set's "auto" values
            self.session.flush()
        self._follow_choice()
        self._show_data_info()
        self._schedule_load()
        self.recheck()

    def _follow_choice(self) -> None:
        """The examples change with the choice at once: a set loaded before shows now (from the loader's
        cache), any other shows a placeholder until it has loaded. Loads are told apart by their key (the
        set, its options, the Input and the seed): a load that ends after the choice moved on is ignored,
        and one that matches the choice again (A, B, back to A) is still used."""
        key = self._load_key()
        if key is not None and key == self.data_key:
            return                          # loaded or loading already: what is on show is right
        self.bundle = None                  # the examples on show belong to the set chosen before
        self.data_key = None
        if key is not None and self.loader.get(key) is not None:
            self.data_key = key
            self.loader.request(self.dataset_name, self.dataset_options, self._input_shape(),
                                self.panel.settings.seed.value())     # answers at once, from the cache

    def _load_key(self):
        if self.info is None or (PATH_KINDS.get(self.dataset_name) and not self.dataset_options.get("path")):
            return None
        seed = self.panel.settings.seed.value()
        return request_key(self.dataset_name, self.dataset_options, self._input_shape(), seed)

    def _panel_visibility(self, visible: bool) -> None:
        # isVisible() stays true for a dock behind another tab; this signal tells whether it can be seen
        self._panel_seen = visible
        if visible:
            self._schedule_load()

    def _schedule_load(self) -> None:
        """Load the chosen set soon, if anyone is looking: the panel can be seen or a start is waiting
        (an editor window that never shows the panel never loads a data set)."""
        if self._panel_seen or self.run.start_pending:
            self.load_timer.start()

    def _request_data(self) -> None:
        if not (self._panel_seen or self.run.start_pending):
            return                      # the panel went behind another tab before the timer fired
        key = self._load_key()
        if key is not None and key != self.data_key:
            self.data_key, self.bundle = key, None
            self.loader.request(self.dataset_name, self.dataset_options, self._input_shape(),
                                self.panel.settings.seed.value())
        self.recheck()

    def _settings_changed(self) -> None:
        if self._load_key() != self.data_key:
            self._schedule_load()       # the seed picks the split of generated sets
        self.recheck()

    def _data_loaded(self, key: str, bundle) -> None:
        if key != self.data_key:
            return
        self.bundle = bundle
        images, texts, captions = samples.examples(bundle)
        self.panel.examples.set_samples(images=images, texts=texts, captions=captions)
        self._show_data_info()
        memory = getattr(self.win, "memory", None)        # the estimate at the batch a run trains with
        if memory is not None:
            memory.train_size = self.train_size
            if hasattr(self.win, "request_memory_estimate"):
                self.win.request_memory_estimate()
        self.recheck()
        if self.run.start_pending and self.ready:
            self.start()

    def train_size(self) -> int | None:
        """The chosen training set's size once it has loaded (None before): a run's batch is at most that."""
        if self.bundle is None or self.data_key != self._load_key():
            return None
        return len(self.bundle.train)

    def _data_failed(self, key: str, message: str) -> None:
        if key == self.data_key:
            self.panel.examples.clear()
            self.recheck()

    def _show_data_info(self) -> None:
        info = self.info
        if info is None:
            self.panel.set_data_info("")
            self.panel.examples.clear()
            return
        listed = self._listed.get(info.name)
        follows = listed is not None and not info.vocab_size and listed.sample_shape \
            and tuple(listed.sample_shape) != tuple(info.sample_shape)
        resized = ("" if not follows else " (drawn at the Input's size)" if info.drawn else
                   f" (resized from {format_shape(listed.sample_shape)} to fit the Input)")
        parts = [f"<b>{format_shape(info.sample_shape)}</b> {'token ids' if info.vocab_size else 'per sample'}{resized}",
                 f"<b>{info.num_classes}</b> classes" if info.num_classes else "classes from the files"]
        if info.vocab_size:
            parts.append(f"{info.vocab_size:,} tokens")
        loaded = self.bundle is not None and self.data_key == self._load_key()
        if loaded:
            parts.append(f"{len(self.bundle.train):,} train / {len(self.bundle.val):,} val")
        # How the files are read (test/ used for validation, sizes that differ; once loaded, files skipped):
        # each note a paragraph of its own under the line above. Their text holds folder and file names.
        notes = (self.bundle.info if loaded else info).notes
        self.panel.set_data_info(" · ".join(parts) + "".join(NOTE.format(html.escape(n)) for n in notes))
        if self.bundle is None:
            self.panel.examples.clear(LOADING_EXAMPLES if self._data_loading() else "")
