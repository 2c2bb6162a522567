"""`layerloom train` says how an image folder is read: each of the data set's notes (test/ used for validation,
pictures of different sizes) is printed as a `note:` line when the run starts. The notes are Layerloom's own
description of the folder (dataset_info)."""
import numpy as np
from PIL import Image

from layerloom.app.main import main
from layerloom.graph.fileformat import load_graph
from layerloom.runtime.data import dataset_info
from layerloom.runtime.preflight import check_training, preflight

from .test_project_folder_layouts import SHAPE, tiny_graph


def write_train_test(root, odd_size=None):
    """root/train/<cats|dogs>/ with three 8×8 pictures each and root/test/<cats|dogs>/ with one; with
    `odd_size`, one training picture has that (width, height)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("test", 1)):
        for cls in ("cats", "dogs"):
            (root / split / cls).mkdir(parents=True)
            for n in range(count):
                width, height = odd_size if odd_size and (split, cls, n) == ("train", "dogs", 0) else (8, 8)
                pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{n}.png")
    return root


def _notes(folder):
    return dataset_info("image-folder", path=str(folder), input_shape=SHAPE).notes


def test_layerloom_train_prints_each_note_of_the_folder(tmp_path, capsys):
    folder = write_train_test(tmp_path / "pictures", odd_size=(12, 10))
    notes = _notes(folder)
    assert len(notes) == 2 and "test/ is used as the validation split" in notes[0], notes
    graph = tiny_graph(tmp_path / "tiny.loom.json")
    assert main(["train", str(graph), "--dataset", "image-folder", "--data", str(folder), "--max-steps", "1",
                 "--quiet", "--no-tensorboard", "--health-every", "0", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("note: ")] == [f"note: {n}" for n in notes], out
    assert out[0].startswith("Training on image-folder (6 train / 2 val)")


def test_the_notes_are_preflight_warnings_that_stop_nothing(tmp_path):
    folder = write_train_test(tmp_path / "pictures")
    doc = load_graph(tiny_graph(tmp_path / "tiny.loom.json"))
    found = preflight(doc, "image-folder", {"path": str(folder)})
    assert not found.errors
    assert [(d.message, d.code) for d in found.warnings] == [(n, "data_note") for n in _notes(folder)]
    # the Training panel's check lists problems; it shows the notes with the data set instead
    assert not [d for d in check_training(doc, found.result, found.info) if d.code == "data_note"]
