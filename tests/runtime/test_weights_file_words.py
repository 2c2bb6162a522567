"""A state_dict file that `init_from` names and torch cannot read gets one sentence that says what is wrong with
it and what to do, whatever torch raised (EOFError, IndexError, struct.error, KeyError, RuntimeError,
UnpicklingError); and a zip that unpacks to far more than it holds is refused before torch reads it."""
import re
import zipfile

import pytest
import torch
from hypothesis import given, settings, strategies as st

from layerloom.graph.weights import WeightsError
from layerloom.runtime import torch_files
from layerloom.runtime.initial_weights import init_source_problem, read_init_source

TENSORS = {"conv.weight": torch.arange(150.0).reshape(6, 1, 5, 5), "fc.bias": torch.ones(10)}
PYTHON_WORDS = re.compile(r"Error\b|Traceback|struct\.|pickle\.|\bpkl\b|index out of range")


def failure(path) -> str:
    with pytest.raises(WeightsError) as caught:
        read_init_source(str(path))
    text = str(caught.value)
    assert "\n" not in text and not PYTHON_WORDS.search(text), text
    return text


@pytest.fixture(scope="module")
def older_format(tmp_path_factory):
    path = tmp_path_factory.mktemp("older") / "w.pt"
    torch.save(TENSORS, path, _use_new_zipfile_serialization=False)
    return path.read_bytes()


def test_the_older_format_whole_is_read_as_torch_reads_it(tmp_path, older_format):
    (tmp_path / "w.pt").write_bytes(older_format)
    got = read_init_source(str(tmp_path / "w.pt"))
    assert all(torch.equal(got[k], v) for k, v in TENSORS.items())


@settings(max_examples=60, deadline=None)
@given(keep=st.floats(0.0, 0.9999))
def test_an_older_format_file_cut_anywhere_says_so(tmp_path_factory, older_format, keep):
    path = tmp_path_factory.mktemp("cut") / "w.pt"
    path.write_bytes(older_format[:int(len(older_format) * keep)])
    text = failure(path)
    # torch's weights-only reader meets a cut inside the pickle now and then as an object it will not build
    assert re.search(r"is empty|is cut short or damaged|or is damaged: save model\.state_dict\(\)", text), text
    assert "torch.save" in text


def test_files_torch_did_not_write_and_objects_it_would_have_to_build(tmp_path):
    (tmp_path / "notes.pt").write_text("layer sizes: 6, 16, 120\n" * 5)
    assert "is not a file torch.save wrote: give a .pt or .pth file" in failure(tmp_path / "notes.pt")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 4)
    assert "is not a file torch.save wrote" in failure(tmp_path / "noise.pt")
    torch.save({"w": torch.zeros(2), "optimizer": torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)},
               tmp_path / "objects.pt")
    assert "holds Python objects besides tensors" in failure(tmp_path / "objects.pt")
    whole = tmp_path / "whole.pt"
    torch.save(TENSORS, whole)
    (tmp_path / "cut.pt").write_bytes(whole.read_bytes()[:400])
    assert "is cut short or damaged: its zip directory is missing" in failure(tmp_path / "cut.pt")


def test_a_zip_that_unpacks_to_far_more_than_it_holds_is_refused_unread(tmp_path, monkeypatch):
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(4 * 2**20)}, plain)             # 16 MB of zeros, stored as torch.save stores
    packed = tmp_path / "packed.pt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    assert packed.stat().st_size < 2**20 / 8
    assert torch.load(packed, weights_only=True)["w"].numel() == 4 * 2**20     # torch itself would unpack it
    monkeypatch.setattr(torch_files.torch, "load", lambda *a, **k: pytest.fail("torch.load read the file"))
    text = failure(packed)
    assert re.match(rf"{re.escape(str(packed))} unpacks to 16\.0 MB from a file of \d+\.\d KB, which torch\.save never "
                    "writes", text), text
    assert init_source_problem(str(packed)) == f"the file {text}"
    assert init_source_problem(str(plain)) is None


@pytest.mark.parametrize("protocol", [0, 1, 3, 4, 5])
def test_the_older_format_with_any_pickle_protocol_is_known_as_torchs(tmp_path, protocol):
    """torch.save writes its older format with the pickle protocol it is given; torch's safe reader reads 0, 2 and
    3 and refuses 1, 4 and 5 (and the newer zip format with protocol 4 or 5) for an opcode it does not know."""
    path = tmp_path / "w.pt"
    torch.save(TENSORS, path, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    whole = path.read_bytes()
    try:
        torch.load(path, weights_only=True)
    except Exception:       # noqa: BLE001 - torch refuses it: the words must say why, not "not a torch.save file"
        assert "was saved with a pickle protocol torch's safe reader cannot read" in failure(path)
    else:
        assert torch.equal(read_init_source(str(path))["fc.bias"], TENSORS["fc.bias"])
        path.write_bytes(whole[:len(whole) // 2])
        assert "is cut short or damaged (torch's older, non-zip format" in failure(path)
    path.write_bytes(whole[:9])
    assert "is not a file torch.save wrote" not in failure(path)


def test_a_zip_of_another_kind_is_named_and_not_given_to_torch(tmp_path, monkeypatch):
    torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)).save(str(tmp_path / "script.pt"))
    torch.export.save(torch.export.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),)), tmp_path / "program.pt2")
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as archive:
        archive.writestr("readme.txt", "weights are elsewhere")
    load = torch.load
    monkeypatch.setattr(torch_files.torch, "load", lambda *a, **k: pytest.fail("torch.load read the file"))
    assert "is a TorchScript program (torch.jit.save), not a file of weights torch.save wrote" in \
        failure(tmp_path / "script.pt")
    assert "is an exported program (torch.export), not a file of weights" in failure(tmp_path / "program.pt2")
    assert "is a zip of other files, not a file of weights torch.save wrote" in failure(tmp_path / "other.pt")
    monkeypatch.setattr(torch_files.torch, "load", load)
    torch.save(TENSORS, tmp_path / "p4.pt", pickle_protocol=4)
    assert "was saved with a pickle protocol torch's safe reader cannot read" in failure(tmp_path / "p4.pt")


def test_a_zip_with_a_version_python_cannot_open_is_left_to_torch(tmp_path):
    """A zip entry may ask for a newer zip version than Python's zipfile knows (it raises NotImplementedError);
    torch reads it all the same, and so does Layerloom."""
    path = tmp_path / "w.pt"
    torch.save(TENSORS, path)
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")
    data[directory + 6] = 123                          # "version needed to extract" of its first entry: 12.3
    path.write_bytes(bytes(data))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(path)
    assert init_source_problem(str(path)) is None
    assert torch.equal(read_init_source(str(path))["fc.bias"], TENSORS["fc.bias"])


def test_the_readiness_check_names_other_zips_and_a_packed_checkpoint_as_loading_would(tmp_path):
    torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)).save(str(tmp_path / "script.pt"))
    assert init_source_problem(str(tmp_path / "script.pt")) == f"the file {failure(tmp_path / 'script.pt')}"
    from layerloom.runtime.checkpoints import CheckpointError, load_checkpoint
    from layerloom.runtime.trainer import Trainer

    from .trainer_helpers import mnist_small, small_net
    Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 2, "threads": 1}, lambda e: None,
            runs_base=tmp_path / "runs", data=mnist_small(n_train=64, n_val=32)).run()
    run = next((tmp_path / "runs").iterdir())
    state = next(p for p in (run / "checkpoints").iterdir() if p.is_dir()) / "state.pt"
    plain = zipfile.ZipFile(state)
    members = [(info.filename, plain.read(info.filename)) for info in plain.infolist()]
    plain.close()
    with zipfile.ZipFile(state, "w", zipfile.ZIP_DEFLATED) as packed:
        for name, body in members:
            packed.writestr(name, body)
        packed.writestr(members[0][0].split("/")[0] + "/data/padding", bytes(4 * 2**20))   # packs to a few KB
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(run)
    assert init_source_problem(str(run)) == caught.value.reason
    assert "unpacks to" in caught.value.reason


def test_a_file_cut_inside_its_first_bytes_is_cut_short_whatever_its_protocol(tmp_path):
    for head in (b"L", b"L1", b"\x80", b"\x80\x04\x95"):
        (tmp_path / "w.pt").write_bytes(head)
        assert "is cut short or damaged (torch's older, non-zip format" in failure(tmp_path / "w.pt")
