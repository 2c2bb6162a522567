"""Sweeps: hyperparameter and architecture searches with Optuna, one `layerloom train` process a trial.

spec.py (the `sweep` section and PATH=SPEC, validated)   study.py (storage, sampler, pruner, resume)
trial.py (a trial's graph, its check, its process)   coordinator.py (the ask/tell loop)
results.py (results.json, table, importance, best values). Qt-free.
"""
