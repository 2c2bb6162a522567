"""The Edit menu's operations on the canvas selection: cut, copy, paste, duplicate, delete, select all."""
from __future__ import annotations

from . import clipboard, edits

DUPLICATE_GAP = 120.0     # a block is about 60 px tall: the copy sits a clear row below
PASTE_STEP = 30.0         # a paste where the last one went lands this far down and right of it


class Editing:
    def __init__(self, session, scene, view):
        self.session, self.scene, self.view = session, scene, view
        self._pasted_at: tuple[float, float] | None = None     # where the last paste went (at the cursor)
        self._pastes = 0                                        # pastes there in a row, less one

    def copy(self) -> bool:
        ids = self.scene.selected_block_ids()
        if not ids:
            self.session.message.emit("Select blocks to copy (click one, or drag a band around several).")
            return False
        clipboard.put(clipboard.fragment(self.session.document, ids))
        self.session.message.emit(f"Copied {len(ids)} block{'s' if len(ids) != 1 else ''}.")
        return True

    def cut(self) -> None:
        if self.copy():
            edits.delete(self.session, self.scene.selected_block_ids(), text="Cut")

    def paste(self) -> None:
        frag = clipboard.get()
        if frag is None:
            self.session.message.emit("The clipboard holds no Layerloom blocks: select blocks and copy them "
                                      "(Ctrl+C) first.")
            return
        p = self.view.cursor_scene_pos()
        at = (round(p.x() / 10) * 10, round(p.y() / 10) * 10)
        # pasted again without moving the mouse: each copy a step down and right, not on top of the last
        self._pastes = self._pastes + 1 if self._pasted_at == at else 0
        self._pasted_at = at
        new = edits.paste(self.session, frag, at=(at[0] + PASTE_STEP * self._pastes, at[1] + PASTE_STEP * self._pastes))
        if new:
            self.scene.select_blocks(new.value)

    def duplicate(self) -> None:
        ids = self.scene.selected_block_ids()
        if not ids:
            self.session.message.emit("Select blocks to duplicate (click one, or drag a band around several).")
            return
        doc = self.session.document
        ys = [doc.blocks[b].pos[1] for b in ids]
        below = (0.0, max(ys) - min(ys) + DUPLICATE_GAP)    # under the originals, never on top of them
        new = edits.paste(self.session, clipboard.fragment(doc, ids), offset=below, text="Duplicate")
        if new:
            self.scene.select_blocks(new.value)

    def delete(self) -> None:
        edits.delete(self.session, self.scene.selected_block_ids(), self.scene.selected_edges())

    def select_all(self) -> None:
        self.scene.select_blocks(self.scene.blocks)

    def auto_layout(self) -> None:
        edits.auto_layout(self.session)
        self.view.fit()
