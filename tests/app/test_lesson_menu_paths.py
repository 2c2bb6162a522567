"""Every menu path a lesson names ("View ▸ Explore Embeddings") leads to an item of the window's menus."""
import re

from layerloom.runtime.lessons import builtin_lessons


def _title(action) -> str:
    return action.text().replace("&", "").rstrip("…").strip()


def _reaches(menu, rest: str) -> bool:
    """Whether `rest` (what follows "Menu ▸ ") starts with an item of `menu`, and goes on into its submenu."""
    for action in menu.actions():
        title = _title(action)
        if title and rest.startswith(title):
            after = rest[len(title):]
            if after.startswith(" ▸ "):
                return action.menu() is not None and _reaches(action.menu(), after[3:])
            return True
    return False


def test_the_menu_paths_the_lessons_name_exist(win):
    bar = {_title(a): a.menu() for a in win.menuBar().actions()}
    named = []
    for lesson in builtin_lessons():
        for step in lesson.steps:
            for text in (step.text, step.hint):
                for m in re.finditer(r"(\w+) ▸ ", text):
                    if m.start() > 0 and text[m.start() - 2:m.start()] == "▸ ":
                        continue                           # the middle of a path already followed
                    named.append((lesson.id, m.group(1), text[m.end():]))
    assert len(named) >= 2
    for lesson_id, top, rest in named:
        assert top in bar and _reaches(bar[top], rest), (lesson_id, f"{top} ▸ {rest}")
