"""Regenerate the graphs that lessons start from (presets/lessons/*.loom.json).

Run: .venv/bin/python tools/make_lesson_graphs.py
"""
from __future__ import annotations

from pathlib import Path

from layerloom.graph import analyze, load_graph, save_graph
from layerloom.graph.layout import apply_layout, auto_layout
from layerloom.presets import preset_path

LESSONS = Path(__file__).resolve().parent.parent / "presets" / "lessons"


def alexnet_unpadded():
    """AlexNet as the 2012 figure is often redrawn: no padding in the convolutions, no adaptive
    pooling, and the first Linear pinned to 256·6·6 = 9216 inputs. At 224×224 it does not fit."""
    doc = load_graph(preset_path("alexnet"))
    doc.name = "AlexNet without padding"
    doc.description = ("AlexNet with the convolutions' padding left out and no adaptive pooling: at 224×224 "
                       "its feature maps shrink to 1×1, so fc1 (built for 6×6×256 = 9216 inputs) receives 256.")
    gap = next(b for b in doc.blocks.values() if b.kind == "AdaptiveAvgPool2d").id
    src = next(e.src for e in doc.edges_into(gap))
    dst = next(e.dst for e in doc.edges if e.src == gap)
    doc.remove_block(gap)
    doc.connect(src, dst)
    for b in list(doc.blocks.values()):
        if b.kind == "Conv2d":
            doc.set_param(b.id, "padding", 0)
    first_linear = next(b for b in (doc.blocks[i] for i in analyze(doc).order) if b.kind == "Linear")
    doc.set_param(first_linear.id, "in_features", 9216)
    apply_layout(doc, auto_layout(doc))
    return doc


def main():
    doc = alexnet_unpadded()
    assert not analyze(doc).ok
    save_graph(doc, LESSONS / "alexnet_unpadded.loom.json")
    print("wrote", LESSONS / "alexnet_unpadded.loom.json")


def animals_text(sentences: int = 4000, seed: int = 7) -> str:
    """A small text written for the word-embedding lesson: sentences from a tiny grammar in which
    words that play the same part (cat, dog, fox; fish, meat, grain; ...) share their neighbours,
    so word2vec can find them from context alone."""
    import random
    rng = random.Random(seed)
    groups = {
        "animal": ["cat", "dog", "fox", "wolf", "horse", "cow", "sheep", "goat"],
        "food": ["fish", "meat", "grain", "grass", "hay", "bread", "milk", "cheese"],
        "place": ["barn", "field", "forest", "river", "garden", "meadow", "hill", "village"],
        "eat": ["eats", "likes", "finds", "wants"],
        "go": ["runs", "walks", "sleeps", "rests"],
        "time": ["morning", "evening", "night", "noon"],
    }
    pick = lambda g: rng.choice(groups[g])  # noqa: E731
    forms = [
        lambda: f"the {pick('animal')} {pick('eat')} the {pick('food')} in the {pick('place')}",
        lambda: f"a {pick('animal')} {pick('go')} to the {pick('place')} in the {pick('time')}",
        lambda: f"every {pick('time')} the {pick('animal')} {pick('eat')} {pick('food')}",
        lambda: f"the {pick('place')} has {pick('food')} for the {pick('animal')}",
    ]
    return ". ".join(rng.choice(forms)() for _ in range(sentences)) + ".\n"


def write_animals_text():
    (LESSONS / "animals.txt").write_text(animals_text(), encoding="utf-8")
    print("wrote", LESSONS / "animals.txt")


if __name__ == "__main__":
    main()
    write_animals_text()
