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


def test_settings_the_card_has_to_elide_are_in_its_tooltip(win):
    doc = GraphDocument("labels")
    src = doc.add_block("Input", {"shape": [128, 16, 16]}, pos=(0.0, 0.0))
    wide = doc.add_block("Conv2d", {"out_channels": 256, "kernel_size": [3, 5], "stride": 2, "padding": 1},
                         pos=(200.0, 0.0))
    short = doc.add_block("Conv2d", {}, pos=(200.0, 200.0))
    doc.connect(src, wide)
    doc.connect(src, short)
    win.session.set_document(doc)
    item = win.scene.blocks[wide]
    label = item.look.label
    fm = QFontMetricsF(theme.ui_font(13))
    assert fm.horizontalAdvance(label) > WIDTH - 20, label            # the card shows it cut short
    assert f"Settings: {label}" in item.toolTip()
    assert "Settings:" not in win.scene.blocks[short].toolTip()        # a label shown whole is not repeated


def test_a_kind_that_fits_stays_whole_beside_a_badge(win):
    doc = GraphDocument("kinds")
    src = doc.add_block("Input", {"shape": [3, 8, 8]}, pos=(0.0, 0.0))
    pool = doc.add_block("MaxPool2d", {}, pos=(200.0, 0.0))          # unused result: a warning badge
    doc.connect(src, pool)
    win.session.set_document(doc)
    item = win.scene.blocks[pool]
    assert item.look.status == "warning"
    assert item.header_texts()[0] == "MaxPool2d"
