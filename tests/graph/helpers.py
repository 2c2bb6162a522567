from hypothesis import strategies as st

from layerloom.graph import GraphDocument
from layerloom.graph.params import AUTO


def chain(*specs, shape=(1, 28, 28), dtype=None, name="test"):
    """A document Input -> specs... -> Output; each spec is (kind, params)."""
    doc = GraphDocument(name)
    params = {"shape": list(shape)}
    if dtype:
        params["dtype"] = dtype
    last = doc.add_block("Input", params)
    for kind, p in specs:
        bid = doc.add_block(kind, p)
        doc.connect(last, bid)
        last = bid
    out = doc.add_block("Output")
    doc.connect(last, out)
    return doc


def param_value(draw, p, whole, more_floats=(), strings_one_in: int = 3, max_items: int = 3, item_hi=None):
    """A value for the block parameter `p`, drawn as a random-graph test wants it: "auto" or empty at
    times, else one of its type. `whole(draw, p)` draws its whole numbers, `more_floats` adds to a
    number's min, default and max, a size is one of its strings one time in `strings_one_in`, and a shape
    has up to `max_items` items from the parameter's min to `item_hi(p, lo)` (at times a -1 where allowed)."""
    if p.auto and draw(st.integers(0, 9)) < 6:
        return AUTO
    if p.optional and draw(st.integers(0, 4)) == 0:
        return None
    if p.type == "bool":
        return draw(st.booleans())
    if p.type == "choice":
        return draw(st.sampled_from(p.choices))
    if p.type == "int":
        return whole(draw, p)
    if p.type == "float":
        picks = [v for v in (p.min, p.default, p.max, *more_floats) if isinstance(v, (int, float))]
        return float(draw(st.sampled_from(picks)))
    if p.type == "size":
        if p.strings and draw(st.integers(0, strings_one_in - 1)) == 0:
            return draw(st.sampled_from(p.strings))
        if p.length and draw(st.booleans()):
            return [whole(draw, p) for _ in range(p.length)]
        return whole(draw, p)
    if p.type == "shape":
        n = draw(st.integers(max(1, p.min_items), min(max_items, p.max_items)))
        lo = int(p.min) if p.min is not None else 1
        items = [draw(st.integers(lo, item_hi(p, lo))) for _ in range(n)]
        if p.allow_negative_one and draw(st.booleans()):
            items[draw(st.integers(0, n - 1))] = -1
        return items
    raise AssertionError(p.type)
