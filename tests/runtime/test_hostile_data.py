"""Hostile data files: a crafted CIFAR batch, a huge CSV field, a symlink loop and a FIFO in an
image folder each end in a DataError (or are skipped), quickly and in bounded memory."""
import os
import pickle
import threading

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from layerloom.runtime.data import DataError, load_dataset
from layerloom.runtime.data.cifar_format import read_batch

from .test_data_image_folder import write_images
from .test_data_torchvision_sets import cifar_batch


class _HugeArray:
    """Pickles as numpy.ndarray((N, 3072)): uninitialised memory of any size from a tiny file."""

    def __reduce__(self):
        return (np.ndarray, ((100_000_000, 3072),))


def test_a_cifar_batch_cannot_ask_for_more_memory_than_it_holds(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": _HugeArray(), "labels": [0]}, protocol=2))
    assert path.stat().st_size < 300
    with pytest.raises(DataError, match="cannot be read"):
        read_batch(path)
    # a real batch still reads, pixels intact
    raw, data, labels = cifar_batch(5, np.random.default_rng(0))
    good = tmp_path / "data_batch_2"
    good.write_bytes(raw)
    batch = read_batch(good)
    np.testing.assert_array_equal(batch["data"], data)
    assert list(batch["labels"]) == list(labels)


def test_a_csv_field_over_the_limit_names_the_line_and_the_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("text,label\nhello,a\nbye,b\n\"" + "x" * 1_000_000 + "\",a\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset("text-csv", path=str(path))
    message = str(info.value)
    assert "line" in message and "131,072" in message and "\n" not in message


def test_image_folder_skips_symlink_loops_and_fifos(tmp_path):
    write_images(tmp_path, per_class=5)
    os.symlink(tmp_path / "cats", tmp_path / "cats" / "loop")           # cats/loop/loop/... forever
    os.mkfifo(tmp_path / "dogs" / "blocked.png")                       # reading it would block
    result = {}

    def load():
        try:
            result["bundle"] = load_dataset("image-folder", path=str(tmp_path), input_shape=(3, 10, 12))
        except BaseException as exc:   # reported below
            result["error"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(120)                  # a hang guard, not a timing assertion
    assert not thread.is_alive(), "loading the image folder hung"
    assert "error" not in result, result.get("error")
    bundle = result["bundle"]
    assert len(bundle.train) + len(bundle.val) == 10


def _png(width, height, bit_depth, colour_type, rows: bytes) -> bytes:
    """A PNG file from raw scanlines (each prefixed by filter byte 0), to claim any size or bit depth."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _jpeg_cut(path):
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, "JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("name, make, words", [
    ("empty.png", lambda p: p.write_bytes(b""), "not an image Pillow can read"),
    ("notes.png", lambda p: p.write_text("hello"), "not an image Pillow can read"),
    ("cut.jpg", _jpeg_cut, "truncated"),
    ("claims.png", lambda p: p.write_bytes(_png(100_000, 100_000, 8, 2, b"\0" * 100)), "more pixels than Pillow"),
])
def test_an_unreadable_image_in_the_folder_is_named_with_what_to_do(tmp_path, name, make, words):
    write_images(tmp_path, per_class=4)
    make(tmp_path / "dogs" / name)
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(3, 10, 12), val_fraction=0.5)
    folder = bundle.train.dataset
    index = [str(p) for p, _ in folder.samples].index(str(tmp_path / "dogs" / name))
    with pytest.raises(DataError) as info:
        folder[index]
    message = str(info.value)
    assert name in message and words in message and "remove" in message and "\n" not in message


def test_a_huge_first_image_is_refused_when_the_folder_is_described(tmp_path):
    write_images(tmp_path, per_class=2)
    (tmp_path / "cats" / "a_first.png").write_bytes(_png(30_000, 30_000, 8, 2, b"\0" * 100))
    with pytest.raises(DataError, match="more pixels than Pillow reads safely"):
        load_dataset("image-folder", path=str(tmp_path))


def test_sixteen_bit_grey_images_keep_their_levels(tmp_path):
    """Pillow converts 16-bit grey to 8-bit by clipping (every level above 255 became white); the
    same levels in a 16-bit RGB PNG are scaled by Pillow's own decoder, which is the reference."""
    from PIL import Image
    levels = np.array([[0, 257, 1000, 30000, 40000, 65535]] * 4, dtype=np.uint16)
    write_images(tmp_path, per_class=2)
    Image.fromarray(levels).save(tmp_path / "dogs" / "grey16.png")
    rgb = np.repeat(levels[:, :, None], 3, axis=2).astype(">u2")
    rows = b"".join(b"\0" + rgb[y].tobytes() for y in range(levels.shape[0]))
    (tmp_path / "rgb16.png").write_bytes(_png(levels.shape[1], levels.shape[0], 16, 2, rows))
    reference = np.asarray(Image.open(tmp_path / "rgb16.png").convert("L"), dtype=np.int16)
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(1, 4, 6), size=[4, 6],
                          val_fraction=0.5)
    folder = bundle.train.dataset
    x, _ = folder[[str(p) for p, _ in folder.samples].index(str(tmp_path / "dogs" / "grey16.png"))]
    got = (x[0] * 255).round().to(torch.int16).numpy()
    assert np.abs(got - reference).max() <= 1, (got[0], reference[0])
    assert got.max() == 255 and 100 < got[0, 3] < 130          # 30000 of 65535, not clipped to white


@settings(derandomize=True, max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(min_value=0, max_value=2000),
       value=st.integers(min_value=0, max_value=255))
def test_a_damaged_image_reads_or_is_a_data_error(tmp_path, cut, flip, value):
    import io
    from PIL import Image

    from layerloom.runtime.data.image_folder import read_image
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue()[: cut % (len(buffer.getvalue()) + 1)])
    if data:
        data[flip % len(data)] = value
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    try:
        read_image(path)
    except DataError as exc:
        assert "\n" not in str(exc) and "remove" in str(exc)


def _texts(tmp_path):
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("text,label\n" + "".join(f"word{i} and more,{'ab'[i % 2]}\n" for i in range(20)),
                        encoding="utf-8")
    corpus = tmp_path / "c.txt"
    corpus.write_text(" ".join(f"w{i % 7}" for i in range(400)), encoding="utf-8")
    return {"text-csv": csv_file, "text-corpus": corpus}


@pytest.mark.parametrize("name, option, value", [
    ("text-csv", "max_length", "abc"), ("text-csv", "max_length", 0), ("text-csv", "max_length", -5),
    ("text-csv", "max_size", 0), ("text-csv", "val_fraction", float("nan")), ("text-csv", "val_fraction", "x"),
    ("text-csv", "min_count", 2.5), ("text-corpus", "window", 10 ** 9), ("text-corpus", "max_pairs", "many"),
    ("text-corpus", "subsample", float("inf")), ("text-corpus", "val_fraction", 1.5),
])
def test_a_text_option_that_does_not_fit_is_named(tmp_path, name, option, value):
    with pytest.raises(DataError) as info:
        load_dataset(name, path=str(_texts(tmp_path)[name]), **{option: value})
    assert f"{option}=" in str(info.value) and "does not fit" in str(info.value)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 12, max_value=10 ** 12),
                    st.floats(), st.text(max_size=8))


@settings(derandomize=True, max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["text-csv", "text-corpus"]),
       option=st.sampled_from(["min_count", "max_size", "max_length", "val_fraction", "window", "max_pairs",
                               "subsample"]), value=_VALUES)
def test_any_text_option_value_loads_or_is_a_data_error(tmp_path, name, option, value):
    try:
        bundle = load_dataset(name, path=str(_texts(tmp_path)[name]), **{option: value})
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(bundle.train) > 0 and len(bundle.val) > 0


def test_a_gzipped_idx_file_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch):
    import gzip

    from layerloom.runtime.data import torchvision_sets
    from .test_data_torchvision_sets import idx_set
    monkeypatch.setattr(torchvision_sets, "UNPACK_BYTES", 2**20)
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    idx_set(raw, n_train=12, n_test=6, packed=True)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as f:     # 3 MB of zeros in a few kB
        f.write(bytes(3 * 2**20))
    assert (raw / "train-images-idx3-ubyte.gz").stat().st_size < 2**16
    with pytest.raises(DataError, match="unpacks train-images-idx3-ubyte to more than 1 MB"):
        load_dataset("mnist", root=tmp_path, download=False)
    assert sorted(p.name for p in raw.iterdir() if not p.name.endswith(".gz")) == []   # nothing half-written


def test_a_cifar_archive_gives_only_its_batch_files_within_the_limit(tmp_path, monkeypatch):
    import io
    import tarfile

    from layerloom.runtime.data import torchvision_sets
    from .test_data_torchvision_sets import write_cifar10
    staging = tmp_path / "staging" / "cifar-10-batches-py"
    _, train_y, _, _ = write_cifar10(staging)
    (tmp_path / "cifar10").mkdir()
    with tarfile.open(tmp_path / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-py")
        extra = tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")
        extra.size = 5
        tar.addfile(extra, io.BytesIO(b"hello"))
    bundle = load_dataset("cifar10", root=tmp_path, download=False)
    assert bundle.train.labels.tolist() == train_y
    assert not (tmp_path / "escaped.txt").exists()
    for f in (tmp_path / "cifar10" / "cifar-10-batches-py").iterdir():
        f.unlink()
    monkeypatch.setattr(torchvision_sets, "UNPACK_BYTES", 1000)
    with pytest.raises(DataError, match="to more than 0 MB"):
        load_dataset("cifar10", root=tmp_path, download=False)


@pytest.mark.parametrize("name", ["shapes", "figures"])
@pytest.mark.parametrize("option, value, words", [
    ("val_count", 10 ** 7, "over 4 GB"), ("train_count", 10 ** 7, "over 4 GB"),
    ("train_count", 10 ** 9, "does not fit: give a whole number from 1 to 10,000,000"),
    ("train_count", 1e400, "does not fit"), ("val_count", float("nan"), "does not fit"),
])
def test_a_generated_set_cannot_ask_for_unbounded_memory(name, option, value, words):
    with pytest.raises(DataError, match=words):
        load_dataset(name, input_shape=(1, 28, 28), **{option: value})


def test_names_from_disk_reach_a_message_escaped(tmp_path):
    """A class folder called "\\x1b[2Jcats" (a terminal's clear-screen) or holding a newline is named
    escaped in the one-line message, as the graph file's own texts are."""
    write_images(tmp_path, per_class=3)
    (tmp_path / "\x1b[2Jempty\nclass").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset("image-folder", path=str(tmp_path))
    message = str(info.value)
    assert "\x1b" not in message and "\n" not in message and "\\x1b[2Jempty\\nclass" in message


def test_a_text_file_name_reaches_a_message_escaped(tmp_path):
    path = tmp_path / "\x1b[2Jnotes\n.csv"
    path.write_text("text,label\nonly,one\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset("text-csv", path=str(path))
    assert "\x1b" not in str(info.value) and "\n" not in str(info.value) and "\\x1b[2Jnotes\\n.csv" in str(info.value)


@pytest.mark.parametrize("header, options, words", [
    ("text,label,text", {}, "has 2 columns named 'text': rename all but one"),
    ("label,text,label,label", {}, "has 3 columns named 'label': rename all but one"),
    ("text,label", {"label_column": "text"}, "both name the column 'text'"),
])
def test_a_csv_column_read_twice_or_named_twice_is_refused(tmp_path, header, options, words):
    """csv's DictReader keeps the last of two columns of one name without a word; a label column that
    is the text column made every sentence a class of its own."""
    path = tmp_path / "t.csv"
    row = ",".join(["word"] * len(header.split(",")))
    path.write_text("\n".join([header, row, row.replace("word", "other"), row]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=words):
        load_dataset("text-csv", path=str(path), **options)


def _sample_of(tmp_path, name):
    bundle = load_dataset("image-folder", path=str(tmp_path), input_shape=(1, 4, 6), size=[4, 6], val_fraction=0.5)
    folder = bundle.train.dataset
    return folder[[str(p) for p, _ in folder.samples].index(str(tmp_path / "dogs" / name))][0]


def test_thirty_two_bit_grey_images_keep_their_levels_or_say_why_not(tmp_path):
    """Pillow's conversion clips 32-bit levels to 0..255: a float TIFF in 0..1 read as black."""
    from PIL import Image
    write_images(tmp_path, per_class=2)
    floats = np.linspace(0.0, 1.0, 24, dtype=np.float32).reshape(4, 6)
    Image.fromarray(floats).save(tmp_path / "dogs" / "float.tiff")
    assert Image.open(tmp_path / "dogs" / "float.tiff").mode == "F"
    np.testing.assert_allclose(_sample_of(tmp_path, "float.tiff")[0].numpy(), floats, atol=0.5 / 255)
    whole = np.arange(0, 240, 10, dtype=np.int32).reshape(4, 6)
    Image.fromarray(whole).save(tmp_path / "dogs" / "whole.tiff")
    assert Image.open(tmp_path / "dogs" / "whole.tiff").mode == "I"
    np.testing.assert_allclose(_sample_of(tmp_path, "whole.tiff")[0].numpy() * 255, whole, atol=1e-3)
    for name, levels, words in [("bright.tiff", floats * 2, "floating-point levels from 0 to 2; .* rescale it"),
                                ("nan.tiff", np.where(floats > 0.5, np.nan, floats).astype(np.float32),
                                 "floating-point levels"),
                                ("deep.tiff", whole * 100, "32-bit levels from 0 to 23,000, .* save it as an 8- or")]:
        Image.fromarray(levels).save(tmp_path / "dogs" / name)
        with pytest.raises(DataError, match=words):
            _sample_of(tmp_path, name)
        (tmp_path / "dogs" / name).unlink()
