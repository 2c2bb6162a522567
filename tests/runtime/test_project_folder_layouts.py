"""An exported project reads an image folder exactly as Layerloom reads it, in each split layout (train/ with
valid/, train/ with only test/, train/ alone), with a phone photo stored sideways (EXIF orientation) and a
16-bit grey PNG among the pictures. The reference is Layerloom's own load_dataset; the project is read in a
process where Layerloom cannot be imported."""
import builtins
import symtable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerloom.app.main import main
from layerloom.graph.document import GraphDocument
from layerloom.graph.fileformat import save_graph
from layerloom.runtime.data import DataError, load_dataset
from layerloom.runtime.export import project_images

SHAPE = (3, 8, 8)
SEED, VAL_FRACTION = 3, 0.4
LAYOUTS = {                 # the split folders, and one Layerloom does not read (test/ beside valid/)
    "train+valid": (("train", "valid"), "test"),
    "train+test": (("Train", "TEST"), None),
    "train alone": (("train",), None),
    "class folders": (("",), None),
}


def _sideways_jpeg(path, rng):
    """An 8×8 JPEG stored turned a quarter, with the EXIF orientation (6) that says so, as a phone writes it."""
    image = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(path, exif=exif.tobytes(), quality=95)


def _grey16(path, rng):
    Image.fromarray(rng.integers(300, 65536, (8, 8), dtype=np.uint16)).save(path)      # Pillow reads it as I;16


def write_folder(root, layout: str):
    """root/<split>/<cats|dogs>/ (root/<cats|dogs>/ for "class folders"): 8×8 RGB PNGs, a sideways JPEG
    and a 16-bit PNG in each, a macOS resource file, a hidden folder of copies and a text file that are not
    read."""
    splits, unused = LAYOUTS[layout]
    rng = np.random.default_rng(len(layout))
    for n, split in enumerate(splits + ((unused,) if unused else ())):
        for cls in ("cats", "dogs") + (("birds",) if split == unused else ()):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(3 if n == 0 else 1):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
            _sideways_jpeg(folder / "photo.jpg", rng)
            _grey16(folder / "deep.png", rng)
            (folder / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
            (folder / ".ipynb_checkpoints").mkdir()
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / ".ipynb_checkpoints" / "0-checkpoint.png")
            (folder / "notes.txt").write_text("not a picture")
    return root


def tiny_graph(path):
    doc = GraphDocument("tiny")
    last = doc.add_block("Input", {"shape": list(SHAPE)})
    for kind, params in (("Flatten", {}), ("Linear", {"out_features": 2}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    save_graph(doc, path)
    return path


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """layout -> (the image folder, the project exported from a tiny run trained on it)."""
    made = {}
    for layout in LAYOUTS:
        base = tmp_path_factory.mktemp(layout.replace(" ", "-").replace("+", "-"))
        source = write_folder(base / "pictures", layout)
        runs = base / "runs"
        assert main(["train", str(tiny_graph(base / "tiny.loom.json")), "--dataset", "image-folder", "--data",
                     str(source), "--data-option", f"val_fraction={VAL_FRACTION}", "--seed", str(SEED),
                     "--max-steps", "1", "--quiet", "--no-tensorboard", "--health-every", "0",
                     "--out", str(runs)]) == 0
        run = next(runs.iterdir())
        assert main(["export", str(run), "--format", "project", "--out", str(base / "export")]) == 0
        made[layout] = (source, base / "export" / "project")
    return made


# Runs where Layerloom cannot be imported: train.py's own load_data (the copy in data/images), and the
# generated module on the original folder; the tensors and class lists come back in loaded.pt.
READ = '''
import sys
import torch
import train
import image_folder_data
assert not any(m == "layerloom" or m.startswith("layerloom.") for m in sys.modules), "layerloom was imported"
copy = train.load_data(None)
source = image_folder_data.load({source!r}, train.INPUT_SHAPE, {fraction!r}, train.CONFIG["seed"])
torch.save({{"copy": list(copy), "source": list(source[:4]), "classes": source[4],
            "class_names": train.CLASS_NAMES}}, "loaded.pt")
'''


def _reference(source):
    bundle = load_dataset("image-folder", path=str(source), input_shape=SHAPE, seed=SEED, val_fraction=VAL_FRACTION)
    tensors = []
    for split in (bundle.train, bundle.val):
        pairs = [split[i] for i in range(len(split))]
        tensors += [torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])]
    return tensors, list(bundle.info.class_names)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_project_reads_the_pixels_labels_and_classes_layerloom_reads(projects, layout, project_runner):
    source, project = projects[layout]
    proc = project_runner.run(project, code=READ.format(source=str(source), fraction=VAL_FRACTION))
    assert proc.returncode == 0, proc.stderr
    loaded = torch.load(project / "loaded.pt", weights_only=True)
    expected, classes = _reference(source)
    assert classes == ["cats", "dogs"] == loaded["classes"] == loaded["class_names"]
    for got in (loaded["copy"], loaded["source"]):
        assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]
        assert all(g.dtype == e.dtype and torch.equal(g, e) for g, e in zip(got, expected))


def test_the_pictures_are_ones_a_plain_reader_gets_wrong(tmp_path):
    """The fixture's pictures are what the test is about: read plainly (Pillow's RGB conversion, no EXIF turn),
    the sideways photo and the 16-bit picture give other pixels than Layerloom's."""
    from layerloom.runtime.data.image_read import read_image
    rng = np.random.default_rng(0)
    _sideways_jpeg(tmp_path / "photo.jpg", rng)
    _grey16(tmp_path / "deep.png", rng)
    for name in ("photo.jpg", "deep.png"):
        plain = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        assert not np.array_equal(plain, np.asarray(read_image(tmp_path / name).convert("RGB"))), name


def test_the_copy_holds_only_what_layerloom_reads(projects):
    for layout, (source, project) in projects.items():
        splits, unused = LAYOUTS[layout]
        copied = project / project_images.DATA_DIR
        assert sorted(p.name for p in copied.iterdir()) == (sorted(splits) if splits != ("",) else ["cats", "dogs"])
        files = sorted(p.relative_to(copied) for p in copied.rglob("*") if p.is_file())
        assert files == sorted(Path(split, cls, name) for split in splits for cls in ("cats", "dogs")
                               for name in (["0.png", "1.png", "2.png"] if split == splits[0] else ["0.png"])
                               + ["deep.png", "photo.jpg"]), layout


def _undefined_names(source: str) -> set[str]:
    """Names the module uses that it never defines (nor are builtins)."""
    top = symtable.symtable(source, "image_folder_data.py", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()} | set(dir(builtins))
    missing = set()

    def walk(table):
        for s in table.get_symbols():
            if s.is_referenced() and (table is top or s.is_global()) and s.get_name() not in defined:
                missing.add(s.get_name())
        for child in table.get_children():
            walk(child)
    walk(top)
    return missing


def test_the_generated_module_defines_every_name_it_uses_and_imports_no_layerloom():
    source = project_images.module_source()
    assert _undefined_names(source) == set()
    assert "layerloom" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                               if line.startswith(("import ", "from "))}


def test_the_project_refuses_a_folder_layerloom_refuses_in_its_words(projects, project_runner, tmp_path):
    _, project = projects["train+valid"]
    bad = write_folder(tmp_path / "bad", "train alone")
    (bad / "cats").mkdir()                      # a class folder beside train/: Layerloom refuses the folder
    with pytest.raises(DataError) as refused:
        load_dataset("image-folder", path=str(bad), input_shape=SHAPE)
    proc = project_runner.run(project, "--data", str(bad), "--epochs", "1")
    assert proc.returncode == 1 and proc.stderr.strip() == str(refused.value), proc.stderr
