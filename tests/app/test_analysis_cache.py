"""The analysis results kept on disk: exact round trip, keyed by what the result depends on, and a
damaged file is an empty cache."""
from __future__ import annotations

from layerloom.app import analysis_cache
from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path, preset_paths


def test_every_preset_comes_back_exactly(tmp_path):
    file = tmp_path / "cache.json"
    docs = [load_graph(p) for p in preset_paths()]
    for doc in docs:
        analysis_cache.store(doc, None, analyze(doc), file)
    for doc in docs:
        assert analysis_cache.lookup(doc, None, file) == analyze(doc), doc.name


def test_the_key_follows_the_network_and_the_data_not_the_positions(tmp_path):
    file = tmp_path / "cache.json"
    doc = load_graph(preset_path("lenet5"))
    analysis_cache.store(doc, None, analyze(doc), file)
    doc.move_block("conv1", (500.0, 500.0))
    assert analysis_cache.lookup(doc, None, file) is not None       # moving a block changes no shape
    assert analysis_cache.lookup(doc, {"num_classes": 6}, file) is None
    doc.set_param("conv1", "out_channels", 8)
    assert analysis_cache.lookup(doc, None, file) is None
    analysis_cache.store(doc, None, analyze(doc), file)
    assert analysis_cache.lookup(doc, None, file).blocks["conv1"].output_shape == (8, 28, 28)


def test_a_damaged_file_is_an_empty_cache_and_is_rewritten(tmp_path):
    file = tmp_path / "cache.json"
    doc = load_graph(preset_path("mlp"))
    for junk in ("{not json", '{"entries": [1, 2]}', '{"entries": {"%s": {"blocks": 3}}}' % analysis_cache.key(doc, None)):
        file.write_text(junk)
        assert analysis_cache.lookup(doc, None, file) is None
    analysis_cache.store(doc, None, analyze(doc), file)
    assert analysis_cache.lookup(doc, None, file) == analyze(doc)


def test_only_the_newest_entries_are_kept(tmp_path):
    file = tmp_path / "cache.json"
    doc = load_graph(preset_path("mlp"))
    for n in range(analysis_cache.MAX_ENTRIES + 3):
        doc.set_param("fc1", "out_features", 10 + n)
        analysis_cache.store(doc, None, analyze(doc), file)
    assert analysis_cache.lookup(doc, None, file) is not None
    doc.set_param("fc1", "out_features", 10)
    assert analysis_cache.lookup(doc, None, file) is None            # the oldest went
