"""A torchvision model whose arguments ask for more weights than Layerloom imports is refused before
those weights are allocated (`num_classes: 100000000` on resnet18 would be 191 GiB)."""
from __future__ import annotations

import pytest
import torch

import layerloom.graph.importers as importers
from layerloom.graph.importers import ImportFailure, load_source_module


def test_weights_over_the_limit_are_refused_with_their_size(monkeypatch):
    monkeypatch.setattr(importers, "MAX_WEIGHT_BYTES", 2**20)      # 1 MiB: resnet18 holds about 43 MiB
    with pytest.raises(ImportFailure, match=r"resnet18 with these arguments holds 42\.\d MiB of weights, "
                                            r"more than the 1\.0 MiB.*"
                                            r"num_classes"):
        load_source_module("torchvision:resnet18", {"num_classes": 10})


def test_a_model_within_the_limit_is_built_with_real_weights():
    model, name = load_source_module("torchvision:resnet18", {"num_classes": 7})
    assert name == "resnet18" and model.fc.weight.device == torch.device("cpu")
    assert model.fc.out_features == 7 and torch.isfinite(model.fc.weight).all()
