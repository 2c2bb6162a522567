"""A card's header shows its kind and its id together: a long id is elided in the middle (its number stays)
rather than dropped, and the tooltip holds it in full."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QFontMetricsF

from layerloom.app import theme
from layerloom.app.canvas.block_item import WIDTH
from layerloom.graph.document import GraphDocument

LONG = "feature_extractor_stage_three_conv12"


@pytest.mark.parametrize("kind, params", [("Conv2d", {}), ("MultiheadAttention", {}), ("Linear", {"in_features": 7})])
def test_a_long_id_is_elided_not_dropped_and_the_tooltip_holds_it(win, kind, params):
    doc = GraphDocument("ids")
    src = doc.add_block("Input", {"shape": [3, 8, 8]}, pos=(0.0, 0.0))
    doc.add_block(kind, params, pos=(200.0, 0.0), block_id=LONG)
    doc.connect(src, LONG)
    win.session.set_document(doc)
    item = win.scene.blocks[LONG]
    shown_kind, kind_w, shown_id, id_w = item.header_texts()
    assert shown_id and "…" in shown_id, shown_id
    assert shown_id.startswith(LONG[:2]) and shown_id.endswith(LONG[-2:]), shown_id    # its number stays
    assert shown_kind[:3] == kind[:3]
    assert 9 + kind_w + 8 + id_w <= WIDTH - 8          # they do not overlap
    assert LONG in item.toolTip()


def test_a_short_id_is_shown_whole(win):
    doc = GraphDocument("ids")
    bid = doc.add_block("Conv2d", {})
    win.session.set_document(doc)
    _, _, shown_id, id_w = win.scene.blocks[bid].header_texts()
    assert shown_id == bid and id_w == QFontMetricsF(theme.ui_font(10)).horizontalAdvance(bid)
