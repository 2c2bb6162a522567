"""`init_from` with the source model's own weights loads every layer of its import, also the layers whose module
paths are too long for a block id (an id holds 64 characters; the importer shortens those). Compared with the
source module's state_dict."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from safetensors.torch import save_file
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.document import id_problem
from layerloom.graph.importers.block_ids import ID_ROOM, block_id_of, source_aliases
from layerloom.graph.importers.fx_import import import_module
from layerloom.graph.weights import module_path_to_id
from layerloom.runtime.initial_weights import InitialWeights


class Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.squeeze_excitation_component = nn.ModuleDict({"first_projection_layer": nn.Linear(4, 4),
                                                           "second_projection_layer": nn.Linear(4, 4)})

    def forward(self, x):
        d = self.squeeze_excitation_component
        return d["second_projection_layer"](torch.relu(d["first_projection_layer"](x)))


class LongNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder_stage_number_one = nn.Sequential(Deep(), Deep())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.encoder_stage_number_one(x))


def _init_from(model: nn.Module, path) -> list[dict]:
    events: list[dict] = []
    trainer = SimpleNamespace(model=model, config=SimpleNamespace(init_from=str(path)), resume_from=None,
                              emit=events.append)
    InitialWeights().setup(trainer)
    return events


def test_init_from_the_source_loads_every_layer_of_long_module_paths(tmp_path):
    torch.manual_seed(0)
    source = LongNet()
    doc, _, _ = import_module(source, (4,))
    long_ids = [b for b in doc.blocks if len(b) > 40 and doc.blocks[b].kind == "Linear"]
    assert len(long_ids) == 4 and all(id_problem(b) is None and len(b) <= ID_ROOM for b in long_ids)
    torch.manual_seed(1)                      # the graph starts from other weights than the source's
    model = compile_graph(doc, weights=False)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "source.safetensors"))
    events = _init_from(model, tmp_path / "source.safetensors")
    report = next(e for e in events if e.get("what") == "init_from")
    assert report["skipped"] == [] and report["new"] == []
    graph = model.state_dict()
    for name, tensor in source.state_dict().items():
        path, _, leaf = name.rpartition(".")
        assert torch.equal(graph[f"{block_id_of(path)}.{leaf}"], tensor), name
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), source.eval()(x))


def test_shortened_ids_of_paths_alike_in_their_first_characters_differ():
    a = "encoder_stage_number_one.0.squeeze_excitation_component.first_projection_layer"
    b = "encoder_stage_number_one.0.squeeze_excitation_component.first_projection_layer2"
    assert block_id_of(a) != block_id_of(b)
    assert block_id_of("layer1.0.conv1") == "layer1_0_conv1"        # short paths keep their plain ids


def test_graphs_imported_with_cut_ids_still_match():
    """A graph imported before ids were shortened with a hash has the first 58 characters as its id."""
    path = "encoder_stage_number_one.0.squeeze_excitation_component.first_projection_layer"
    cut = module_path_to_id(path)[:58]
    weight = torch.ones(2)
    renamed = source_aliases({f"{path}.weight": weight, "head.weight": weight}, [f"{cut}.weight", "head.weight"])
    assert set(renamed) == {f"{cut}.weight", "head.weight"}


def test_a_block_named_with_the_whole_long_id_keeps_its_key():
    path = "encoder_stage_number_one.0.squeeze_excitation_compo.first_xy"    # an id of 60 characters, by hand
    full = module_path_to_id(path)
    assert len(full) > ID_ROOM
    renamed = source_aliases({f"{path}.weight": torch.ones(1)}, [f"{full}.weight", f"{block_id_of(path)}.weight"])
    assert list(renamed) == [f"{path}.weight"]

