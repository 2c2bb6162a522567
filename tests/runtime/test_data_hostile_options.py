"""Data-set options of the wrong type, as `--data-option KEY=VALUE` (read as JSON) or a hand-written graph file
gives them: each is refused before any work in one sentence (exit status 2 from the command line), and whatever
passes that check loads."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.data import dataset_info, load_dataset
from layerloom.runtime.data.registry import _REGISTRY, dataset_options
from layerloom.runtime.data_choice import DataChoiceError, resolve

LENET = str(preset_path("lenet5"))
FILE_SETS = ("image-folder", "text-csv", "text-corpus")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small file (or folder) for each data set read from files."""
    root = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (root / "images" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(root / "images" / cls / f"{i}.png")
    (root / "t.csv").write_text("text,label\n" + "".join(f"word{i} and more,{'ab'[i % 2]}\n" for i in range(20)),
                                encoding="utf-8")
    (root / "c.txt").write_text(" ".join(f"w{i % 7}" for i in range(400)), encoding="utf-8")
    return {"image-folder": str(root / "images"), "text-csv": str(root / "t.csv"), "text-corpus": str(root / "c.txt")}


@pytest.mark.parametrize("dataset, option, told", [
    ("shapes", "size=abc", "size='abc' does not fit: give one side in pixels (28) or [height, width] ([28, 28])."),
    ("shapes", "size=[8,8,8]", "size=[8, 8, 8] does not fit: give one side in pixels (28) or [height, width]"),
    ("shapes", "channels=abc", "shapes can be drawn with 1 (grayscale) or 3 (RGB) channels, not 'abc': set channels"),
    ("figures", "channels=[3]", "figures can be drawn with 1 (grayscale) or 3 (RGB) channels, not [3]"),
    ("text-csv", "label_column=[1]", "label_column=[1] does not fit: give a column name from the file's header line"),
    ("text-csv", "tokenize=[1]", "tokenize=[1] does not fit: give \"word\" or \"char\"."),
    ("text-csv", "path=5", "path=5 does not fit: give the path of a file or folder as text"),
    ("image-folder", "val_fraction=abc", "val_fraction='abc' does not fit: give a fraction between 0 and 1"),
    ("image-folder", "val_fraction=null", "val_fraction=None does not fit: give a fraction between 0 and 1"),
    ("image-folder", "size=true", "size=True does not fit: give one side in pixels (28)"),
    ("text-corpus", "window=abc", "window='abc' does not fit: give a whole number from 1 to 20"),
])
def test_an_option_of_the_wrong_type_is_refused_before_any_work(files, tmp_path, capsys, dataset, option, told):
    """Each was a traceback (ValueError, TypeError: unhashable) or failed only once the run had started."""
    data = ["--data", files[dataset]] if dataset in FILE_SETS and not option.startswith("path=") else []
    out = tmp_path / "runs"
    code = main(["train", LENET, "--dataset", dataset, *data, "--data-option", option, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"layerloom train: {told}") and err.count("\n") == 1, err
    assert not out.exists()


def test_a_size_given_as_text_is_that_many_pixels():
    """size="12" was read as its two characters: 1×2."""
    assert dataset_info("figures", size="12").sample_shape == (3, 12, 12)
    assert dataset_info("shapes", size=["12", 16.0]).sample_shape == (3, 12, 16)


def test_a_column_named_by_a_number_is_that_column(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("text,2020\n" + "".join(f"word{i},{'ab'[i % 2]}\n" for i in range(8)), encoding="utf-8")
    assert dataset_info("text-csv", path=str(path), label_column=2020).class_names == ("a", "b")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4)
_HEAVY = {"train_count", "val_count", "size"}      # accepted values that make a load slow (millions of images)
_PAIRS = [(name, option) for name in _REGISTRY for option in dataset_options(name)]


@pytest.mark.parametrize("dataset, option", _PAIRS)
@settings(derandomize=True, max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=_JSON)
def test_any_json_value_of_any_option_loads_or_is_refused_in_one_line(files, dataset, option, value):
    """What `resolve` (the command line's check before any work) accepts, loads; what it refuses, it refuses
    with one line. No other exception escapes either."""
    given_text = f"{option}={json.dumps(value)}"
    data = files[dataset] if dataset in FILE_SETS and option != "path" else None
    small = ["train_count=20", "val_count=10"] if dataset in ("shapes", "figures") else []
    try:
        chosen = resolve({}, dataset, data, [*small, given_text])
    except DataChoiceError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    options = chosen["dataset_options"]
    if option in _HEAVY and _too_heavy(options.get(option)):
        return                     # accepted as a size or count within its range: the description checked it
    bundle = load_dataset(dataset, **options)
    assert len(bundle.train) > 0 and len(bundle.val) > 0


def _too_heavy(value) -> bool:
    numbers = value if isinstance(value, list) else [value]
    try:
        return any(float(n) > 64 for n in numbers)
    except (TypeError, ValueError):
        return False
