from layerloom.graph import GraphDocument


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
