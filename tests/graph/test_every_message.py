"""Every block kind, given samples of any rank, either dtype and settings drawn from its own schema, says what
is wrong in one printable line of Layerloom's words (no torch internals, no batch-counted "4D input"), counts
in the right number, and ends with what to do. LAYERLOOM_LONG=1 draws many more cases."""
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.graph.analysis import compute_block, with_data
from layerloom.graph.blocks import REGISTRY

from .helpers import param_value

EXAMPLES = 3000 if os.environ.get("LAYERLOOM_LONG") else 60
KINDS = sorted(k for k in REGISTRY if k not in ("Input", "Opaque"))
TORCH_WORDS = re.compile(r"\d+D input|Input Error|empty\(\)|argument|torch\.|Expected |expected \d|division by zero|"
                         r"not all arguments|Traceback|tensor of size")
ONE_MANY = re.compile(r"\b1 (input channels|channels|features|dimensions|values|positions|numbers|whole numbers|"
                      r"steps|entries)\b")
TO_DO = re.compile(r"\b(set|insert|use|remove|change|reshape|put|give|lower|leave|add|wire|rename|delete|pick)\b",
                   re.IGNORECASE)


def _whole(draw, p):
    lo = int(p.min) if p.min is not None else -3
    return draw(st.integers(max(lo, -3), min(int(p.max) if p.max is not None else 12, 12)))


@st.composite
def cases(draw):
    name = draw(st.sampled_from(KINDS))
    kind = REGISTRY[name]
    params = {}
    for p in kind.params:
        if draw(st.integers(0, 2)) == 0:
            params[p.name] = param_value(draw, p, _whole, item_hi=lambda p, lo: lo + 8)
    n = max(kind.input_count(kind.full_params(params)) if "num_inputs" not in params else 2, 1)
    shape = st.lists(st.integers(1, 9), min_size=0, max_size=4).map(tuple)
    dtype = st.sampled_from(["float32", "int64"])
    return name, params, [(draw(shape), draw(dtype)) for _ in range(n)]


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_every_message_is_one_plain_line_that_says_what_to_do(case):
    name, params, inputs = case
    try:
        explicit, _ = with_data(REGISTRY[name], params, None)     # as analysis fills data-driven "auto"
        problem = compute_block(name, explicit, inputs).problem
    except Exception as exc:          # noqa: BLE001 - a crash is the finding
        raise AssertionError(f"{name} {params} {inputs} raised {exc!r}") from exc
    if problem is None or problem.severity != "error":
        return
    m = problem.message
    assert m.isprintable() and m.endswith("."), m
    assert not TORCH_WORDS.search(m), m
    assert not ONE_MANY.search(m), m
    assert TO_DO.search(m), m
