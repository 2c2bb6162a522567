"""Per-kind facts live on the block registry: id prefix, expected rank, key params, explain hook."""
import re

import pytest
import torch
from torch import nn

from layerloom.graph import GraphDocument, analyze
from layerloom.graph.blocks import REGISTRY, BlockKind, get_kind, register
from layerloom.graph.diagnostics import explain_failure, signature
from layerloom.graph.params import Param
from layerloom.graph.problems import Diagnostic

from .helpers import chain

ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_kind_has_its_facts(name):
    kind = get_kind(name)
    assert ID.match(kind.prefix), kind.prefix
    assert set(kind.key_params) <= set(kind.param_names)
    assert kind.explain is None or callable(kind.explain)
    if kind.expected_rank is not None:
        rank, form = kind.expected_rank
        assert rank == len(form.split(" ")[0].split("×"))
        # a sample with one dimension too many is refused in words, not run as "unbatched" input
        shape = [2] * (rank + 1) if name not in ("RNN", "LSTM", "GRU") else [2, 3, 4]
        doc = chain((name, {}), shape=shape)
        errors = analyze(doc).errors
        assert [d.code for d in errors] == ["rank"], errors
        assert f"needs a {form} input ({rank}-D per sample)" in errors[0].message


def test_new_block_ids_use_the_registry_prefix():
    doc = GraphDocument("ids")
    made = [doc.add_block(k) for k in ("Input", "Conv2d", "Conv1d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
                                       "AdaptiveAvgPool2d", "BatchNorm2d", "LayerNorm", "Dropout", "Flatten",
                                       "Linear", "Embedding", "Concat", "GroupNorm", "Output")]
    assert made == ["input", "conv1", "conv2", "deconv1", "pool1", "avgpool1", "gap1", "bn1", "ln1", "drop1",
                    "flatten1", "fc1", "emb1", "cat1", "groupnorm1", "output"]


def test_signature_shows_the_kinds_key_params_even_at_their_defaults():
    assert signature(get_kind("Conv2d"), get_kind("Conv2d").full_params({"stride": 2})) == \
        "Conv2d(out_channels=16, kernel_size=3, stride=2)"
    assert signature(get_kind("LSTM"), get_kind("LSTM").full_params({})) == "LSTM(hidden_size=64)"
    assert signature(get_kind("Dropout"), get_kind("Dropout").full_params({})) == "Dropout()"


def _refusing(call, inputs, params):
    raise RuntimeError("widgets need an even width")


@pytest.fixture
def widget_kinds():
    """Kinds registered by the test alone: no table anywhere names them."""
    added = []

    def add(kind):
        added.append(register(kind).name)
        return kind
    yield add
    for name in added:
        REGISTRY.pop(name)


def test_a_kind_registered_elsewhere_gets_an_id_and_the_generic_explanation(widget_kinds):
    widget_kinds(BlockKind("Pixel-Widget", "Shape", "A test kind.",
                           params=(Param("width", "int", 4, "width", min=1, max=99),),
                           module=nn.Identity, module_params=(), forward=_refusing))
    doc = chain(("Pixel-Widget", {"width": 6}), shape=(3, 4))
    assert "pixelwidget1" in doc.blocks
    d = analyze(doc).errors[0]
    assert (d.block, d.code) == ("pixelwidget1", "shape")
    assert d.message == ("Pixel-Widget(width=6) cannot take an input of shape 3×4: widgets need an even width. "
                         "Change width so that this holds.")


def test_a_kinds_explain_hook_speaks_for_it_and_may_defer(widget_kinds):
    def explain(failure):
        if failure.params["width"] % 2:
            return Diagnostic("", f"width {failure.params['width']} is odd: use {failure.params['width'] + 1}.",
                              "bad_param", fix={"action": "set_param", "param": "width"})
        return None
    widget_kinds(BlockKind("Gadget", "Shape", "A test kind.", params=(Param("width", "int", 4, "w", min=1, max=99),),
                           forward=_refusing, explain=explain, id_prefix="gd", key_params=("width",)))
    odd = analyze(chain(("Gadget", {"width": 5}), shape=(3, 4))).errors[0]
    assert odd.text == "gd1: width 5 is odd: use 6." and odd.fix["block"] == "gd1"
    even = analyze(chain(("Gadget", {}), shape=(3, 4))).errors[0]
    assert even.text == ("gd1: Gadget(width=4) cannot take an input of shape 3×4: widgets need an even width. "
                         "Change width so that this holds.")


# Messages as the kind-name branches worded them before the facts moved into the registry.
BEFORE = {
    "conv_rank": (("Conv2d", {}), (3, 9), "float32",
                  "conv1: Conv2d needs a C×H×W input (3-D per sample) but receives 3×9 (2-D). Use Conv1d for a C×L "
                  "input, or insert a Reshape before it."),
    "gru_rank1": (("GRU", {}), (7,), "float32",
                  "gru1: GRU needs a T×F (time steps × features) input (2-D per sample) but receives 7 (1-D). "
                  "Insert a Reshape (e.g. to [T, 1]) or an Embedding before it."),
    "pool_pad": (("MaxPool2d", {"kernel_size": 2, "padding": 2}), (3, 9, 9), "float32",
                 "pool1: MaxPool2d(kernel_size=2, padding=2) has padding larger than half its kernel_size: use "
                 "padding at most 1."),
    "pool1d": (("MaxPool1d", {"kernel_size": 5}), (3, 3), "float32",
               "pool1: MaxPool1d(kernel_size=5) needs an input of at least 5, but receives 3×3. Remove a pooling "
               "block upstream or use a larger input."),
    "bn": (("BatchNorm2d", {"num_features": 4}), (3, 9, 9), "float32",
           'bn1: BatchNorm2d expects 4 features but receives 3 (input 3×9×9). Set num_features to 3 or to "auto".'),
    "conv1d": (("Conv1d", {"in_channels": 2}), (3, 9), "float32",
               'conv1: Conv1d expects 2 input channels but receives 3 (input 3×9). Set in_channels to 3 or to "auto".'),
    "lstm": (("LSTM", {"input_size": 5}), (4, 7), "float32",
             'lstm1: LSTM(input_size=5) receives 7 features per step (input 4×7). Set input_size to 7 or to "auto".'),
    "ln": (("LayerNorm", {"normalized_shape": [5]}), (3, 7), "float32",
           'ln1: LayerNorm normalises over 5 but the input ends in 7 (input 3×7). Set normalized_shape to [7] or to '
           '"auto".'),
    "emb": (("Embedding", {}), (7,), "float32",
            "emb1: Embedding needs integer token ids but receives float32 values: set the Input's dtype to int64."),
    "reshape": (("Reshape", {"shape": [5, 5]}), (3, 7), "float32",
                "reshape1: Reshape cannot turn 3×7 (21 values) into [5, 5] (25 values): set shape to sizes whose "
                "product is 21, or put -1 in place of one size to have it computed."),
    "permute": (("Permute", {"dims": [0, 0]}), (3, 7), "float32",
                "permute1: Permute dims [0, 0] must list each of the input's 2 dimensions exactly once "
                "(input 3×7): set dims to an order of 0, 1."),
    "mha": (("MultiheadAttention", {"embed_dim": 6, "num_heads": 4}), (3, 8), "float32",
            "multiheadattention1: MultiheadAttention(num_heads=4) cannot take an input of shape 3×8: embed_dim "
            "must be divisible by num_heads. Change num_heads or embed_dim so that this holds (embed_dim follows "
            "the input when \"auto\")."),
}


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_messages_are_worded_as_before(case):
    spec, shape, dtype, text = BEFORE[case]
    errors = analyze(chain(spec, shape=shape, dtype=dtype)).errors
    assert [d.text for d in errors] == [text]


def test_generic_words_for_a_dimension_out_of_range():
    k = get_kind("Softmax")
    d = explain_failure(k, k.full_params({}), [((3, 4), "float32")], IndexError("Dimension out of range"))
    assert d.message == ("Softmax(): a dimension is out of range for a 3×4 input. With the batch there are 3 "
                         "dimensions: use 1 to 2, or −1 for the last.")


def test_pruning_facts_are_the_registrys():
    prunes = {n: k.prunes for n, k in REGISTRY.items() if k.prunes}
    reads = {n: k.reads_channels for n, k in REGISTRY.items() if k.reads_channels}
    assert prunes == {"Conv1d": "out_channels", "Conv2d": "out_channels", "Linear": "out_features"}
    assert reads == {"Conv1d": "in_channels", "Conv2d": "in_channels", "Linear": "in_features",
                     "BatchNorm1d": "num_features", "BatchNorm2d": "num_features", "LayerScale": "num_channels"}
    for name, kind in REGISTRY.items():
        assert not kind.prunes or kind.prunes in kind.param_names
        assert not kind.reads_channels or kind.reads_channels in kind.param_names
        if kind.channelwise and name not in NORMS:   # channel c of the result reads channel c alone: torch says
            sample = (4, 6) if kind.expected_rank and kind.expected_rank[0] == 2 else (4, 6, 6)
            module = kind.module(**kind.module_kwargs(resolve(kind, sample))).eval()
            x = torch.randn(1, *sample)
            one_by_one = torch.cat([module(x[:, c:c + 1]) for c in range(4)], dim=1)
            assert torch.allclose(module(x), one_by_one, atol=1e-6), name


# per-channel by construction: one channel alone does not fit them
NORMS = ("BatchNorm1d", "BatchNorm2d", "LayerScale")


def resolve(kind, shape):
    from layerloom.graph.analysis import resolve_params
    return resolve_params(kind, {}, shape)


def test_a_channelwise_kind_registered_elsewhere_lets_pruning_through(widget_kinds):
    from layerloom.graph.pruning import plan_channels
    widget_kinds(BlockKind("Softsign", "Activation", "x / (1 + |x|)", module=nn.Softsign, channelwise=True))
    widget_kinds(BlockKind("Softsign2", "Activation", "x / (1 + |x|)", module=nn.Softsign))
    for kind, prunable in (("Softsign", True), ("Softsign2", False)):
        doc = chain(("Conv2d", {"out_channels": 8}), (kind, {}), ("Conv2d", {"out_channels": 4}),
                    ("AdaptiveAvgPool2d", {}), ("Flatten", {}), ("Linear", {"out_features": 3}), shape=(3, 8, 8))
        assert (plan_channels(doc).why_not("conv1") is None) is prunable, kind
