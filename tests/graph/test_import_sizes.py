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


def test_an_input_shape_too_large_to_check_is_refused_before_it_is_allocated():
    with pytest.raises(ImportFailure, match=r"the input \(3×1000000×1000000 a sample\) would take 33,527\.6 GiB, "
                                            r"more than the 2\.0 GiB Layerloom allows; import with a smaller"):
        importers.import_source("torchvision:resnet18", (3, 1000000, 1000000))


def test_a_largest_tensor_too_large_to_check_is_refused_before_the_real_run(monkeypatch, tmp_path):
    import layerloom.graph.importers.batch_check as batch_check
    monkeypatch.setattr(batch_check, "CHECK_BYTES", 2**20)           # 1 MiB
    (tmp_path / "wide.py").write_text("from torch import nn\n\n\ndef build():\n"
                                      "    return nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU())\n")
    with pytest.raises(ImportFailure, match=r"on a batch of 3, where the result of m_0 \(64×64×64 a sample\) would "
                                            r"take 3\.0 MiB, more than the 1\.0 MiB Layerloom allows"):
        importers.import_source(f"{tmp_path / 'wide.py'}:build", (1, 64, 64))
