"""Training in the editor window: the run's state, the data-set choice, the readiness check and the live
views of a run. `TrainingUI` (ui.py) puts them together for app/window.py."""
