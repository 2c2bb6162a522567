"""The command line under careless and hostile input: one clear line on stderr, no traceback, the right
exit status, and nothing written when the output cannot be."""
import contextlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime.cli import in_the_way

MLP = str(preset_path("mlp"))


def _one_line_error(captured, *words):
    err = captured.err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


# Output flags whose path runs into a file (`blocker`): refused before any work, nothing made.
BLOCKED_OUTPUTS = [
    ("train", lambda b: ["train", MLP, "--out", b, "--max-steps", "1", "--quiet"], "--out"),
    ("export", lambda b: ["export", MLP, "-f", "safetensors", "--out", f"{b}/sub"], "--out"),
    ("prune", lambda b: ["prune", "no-run", "--ratio", "0.5", "--out", b], "--out"),
    ("prune", lambda b: ["prune", "no-run", "--ratio", "0.5", "--out", "p", "--runs", b], "--runs"),
    ("ensemble", lambda b: ["ensemble", "no-run", "no-run-2", "--out", b], "--out"),
    ("sweep", lambda b: ["sweep", MLP, "--param", "training.lr=log:1e-4:1e-1", "--out", b], "--out"),
    ("sweep-worker", lambda b: ["sweep-worker", "--storage", "journal:j.log", "--out", b], "--out"),
    ("import", lambda b: ["import", "torchvision:resnet18", "--out", f"{b}/net.loom.json"], "--out"),
    ("explain", lambda b: ["explain", "no-run", "--sample", "0", "--method", "saliency", "--out", f"{b}/x.png"],
     "--out"),
]


@pytest.mark.parametrize("command,argv,flag", BLOCKED_OUTPUTS, ids=[f"{c}{f}" for c, _, f in BLOCKED_OUTPUTS])
def test_an_output_path_blocked_by_a_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys,
                                                                    command, argv, flag):
    monkeypatch.chdir(tmp_path)
    Path("blocker").write_text("not a folder")
    assert main(argv("blocker")) == 2
    _one_line_error(capsys.readouterr(), f"layerloom {command}: cannot write {flag}", "blocker is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_an_unwritable_path_found_later_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("blocker").write_text("not a folder")
    assert main(["sweep", MLP, "--param", "training.lr=log:1e-4:1e-1", "--storage", "journal:blocker/j.log"]) == 1
    _one_line_error(capsys.readouterr(), "layerloom sweep: cannot use blocker", "a file is in the way")


def test_an_input_beyond_any_memory_is_one_line_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "net.loom.json"
    assert main(["import", "torchvision:resnet18", "--input-shape", "3,10000000,10000000", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_line_error(captured, "layerloom import: ", "GiB, more than the", "import with a smaller input shape")
    assert list(tmp_path.iterdir()) == []


# A folder tree of files and folders, and a path into it: `in_the_way` says nothing is in the way
# exactly when the operating system then makes the folder (or writes the file).
NAMES = st.sampled_from(["a", "b", "a b", "ü"])


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(existing=st.lists(st.tuples(st.lists(NAMES, min_size=1, max_size=3), st.booleans()), max_size=4),
       target=st.lists(NAMES, min_size=1, max_size=4), folder=st.booleans())
def test_in_the_way_agrees_with_the_file_system(existing, target, folder):
    root = Path(tempfile.mkdtemp())
    try:
        for parts, is_file in existing:
            path = root.joinpath(*parts)
            try:
                if is_file:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if not path.exists():
                        path.write_text("x")
                else:
                    path.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass    # a file already stands where this tree wanted a folder: the tree stays as it is
        path = root.joinpath(*target)
        problem = in_the_way(path, folder)
        try:
            if folder:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a"):
                    pass
            written = True
        except OSError:
            written = False
        assert (problem is None) == written, (problem, path)
    finally:
        shutil.rmtree(root)



@pytest.mark.parametrize("argv,words", [
    (["train", "--resume", "runs/no-such-run"], ["layerloom train: --resume runs/no-such-run: there is no such"]),
    (["train", MLP, "--teacher", "runs/no-such-run"], ["layerloom train: --teacher runs/no-such-run: there is no"]),
    (["prune", "runs/no-such-run", "--ratio", "0.5", "--out", "p"], ["layerloom prune: runs/no-such-run: there is no"]),
], ids=["resume", "teacher", "prune"])
def test_a_run_path_that_is_not_there_is_named_as_a_typo(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line_error(capsys.readouterr(), *words, "give a run folder")
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_a_graph_file_and_a_run_to_resume_together(tmp_path, capsys):
    # the resumed run trains the graph stored in it: the file given beside it would be silently ignored
    run = tmp_path / "run"
    run.mkdir()
    assert main(["train", MLP, "--resume", str(run)]) == 2
    _one_line_error(capsys.readouterr(), "give a graph file or --resume RUN_DIR, not both")
    assert list(run.iterdir()) == []


def test_a_sweep_worker_for_a_journal_that_is_not_there_makes_none(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for storage in ("journal:sweep.log", "sweep.log", "journal:missing/sweep.log"):
        assert main(["sweep-worker", "--storage", storage]) == 2
        _one_line_error(capsys.readouterr(), f"--storage {storage}: there is no journal file",
                        "start the sweep first")
    assert list(tmp_path.iterdir()) == []


def test_ensemble_refuses_a_format_without_a_folder_to_write_it_into(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ensemble", "run-a", "run-b", "--format", "onnx"]) == 2
    _one_line_error(capsys.readouterr(), "layerloom ensemble: --format", "give --out DIR")


def test_a_format_asked_for_twice_is_exported_once(tmp_path, capsys):
    assert main(["export", MLP, "-f", "safetensors", "-f", "safetensors", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[1/1] safetensors..." and len([line for line in out if line.startswith("safetensors: ")]) == 1


@pytest.mark.parametrize("argv,hint", [(["chek", "net.loom.json"], "did you mean `layerloom check`?"),
                                       (["trian"], "did you mean `layerloom train`?"),
                                       (["frobnicate"], "")])
def test_a_mistyped_command_is_named_without_opening_the_desktop_app(tmp_path, monkeypatch, capsys, argv, hint):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "layerloom.app.launch", None)   # importing the app would fail the test
    assert main(argv) == 2
    _one_line_error(capsys.readouterr(), f"layerloom: {argv[0]!r} is not a command", hint, "layerloom --help")


def test_a_file_whose_name_is_a_bare_word_still_opens_in_the_app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("mynet").write_text("{}")
    opened = []
    launch = types.ModuleType("layerloom.app.launch")
    launch.launch = lambda argv: opened.append(argv) or 0
    monkeypatch.setitem(sys.modules, "layerloom.app.launch", launch)
    assert main(["mynet"]) == 0 and opened == [["mynet"]]


@pytest.mark.parametrize("extra", [["--largest-batch"], ["--optimizer", "sgd"], ["--device", "cuda"]])
def test_summary_memory_options_without_a_batch_size_are_refused_not_ignored(capsys, extra):
    assert main(["summary", MLP, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_line_error(captured, "layerloom summary:", "give --batch-size N")


def test_bench_refuses_more_threads_than_training_allows(capsys):
    from layerloom.runtime.config import ConfigError, TrainConfig
    with pytest.raises(ConfigError):        # the same bound as a training run's threads
        TrainConfig.from_sources({}, {"threads": 257})
    assert main(["bench", MLP, "--threads", "257", "--batch", "1", "--repeats", "1"]) == 2
    _one_line_error(capsys.readouterr(), "layerloom bench: --threads must be 0", "to 256")


def _two_trial_sweep(tmp_path, name: str) -> str:
    from .sweep_helpers import write_graph
    return write_graph(tmp_path / "g.loom.json", {"name": name, "strategy": "grid", "workers": 1,
                                                  "params": {"training.lr": "choice:0.003,0.01"}})


def _signal_at(monkeypatch, event_type: str, signum) -> None:
    """The sweep command sends itself `signum` each time it prints an event of `event_type`."""
    from layerloom.runtime import sweep_cli
    shown = sweep_cli._print_event

    def print_and_signal(e):
        shown(e)
        if e["type"] == event_type:
            os.kill(os.getpid(), signum)
    monkeypatch.setattr(sweep_cli, "_print_event", print_and_signal)


def test_a_sweep_stopped_with_ctrl_c_exits_130_even_after_a_trial_completed(tmp_path, monkeypatch, capsys):
    graph = _two_trial_sweep(tmp_path, "stopped")
    _signal_at(monkeypatch, "trial_finished", signal.SIGINT)      # what Ctrl-C in the terminal sends
    assert main(["sweep", graph, "--out", str(tmp_path / "sweeps")]) == 130
    out = capsys.readouterr().out
    assert "trial 0: complete" in out and "best: trial 0" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_explain_refuses_an_image_that_is_a_pipe_instead_of_waiting_on_it(tmp_path):
    import subprocess
    pipe = tmp_path / "picture.png"
    os.mkfifo(pipe)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    for image in (pipe, folder):
        out = subprocess.run([sys.executable, "-m", "layerloom.app.main", "explain", MLP, "--image", str(image),
                              "--method", "saliency", "--out", str(tmp_path / "x.png")],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        assert out.stderr.splitlines() == [f"layerloom explain: --image {image} is not an image file (a folder, "
                                           f"device, pipe or socket); give a .png or .jpg file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "picture.png"]


# Numeric flags and the values they take; a value outside is refused with one line before any work
# (no data loaded, no model built, nothing written), whatever the value.
BOUNDED_FLAGS = [
    (["train", MLP], "--epochs", 1, 100_000),
    (["train", MLP], "--batch-size", 1, 65_536),
    (["train", MLP], "--seed", 0, 2 ** 31 - 1),
    (["train", MLP], "--threads", 0, 256),
    (["train", MLP], "--max-steps", 0, 10 ** 9),
    (["train", MLP], "--health-every", 0, None),
    (["summary", MLP], "--batch-size", 1, None),
    (["prune", "no-run", "--ratio", "0.5", "--out", "p"], "--finetune-epochs", 0, 100_000),
    (["bench", MLP, "--repeats", "1"], "--batch", 1, 65_536),
    (["bench", MLP, "--batch", "1"], "--threads", 0, 256),
    (["bench", MLP, "--batch", "1"], "--repeats", 1, None),
    (["explain", MLP, "--sample", "0", "--method", "integrated-gradients", "--out", "x.png"], "--steps", 1, 1_000),
    (["sweep", MLP, "--param", "training.lr=log:1e-4:1e-1"], "--trials", 0, 100_000),
    (["sweep", MLP, "--param", "training.lr=log:1e-4:1e-1"], "--workers", 1, 256),
    (["sweep", MLP, "--param", "training.lr=log:1e-4:1e-1"], "--epochs", 1, 100_000),
]


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(case=st.sampled_from(BOUNDED_FLAGS), data=st.data())
def test_a_number_outside_a_flag_s_range_is_refused_before_any_work(case, data, tmp_path_factory):
    argv, flag, low, high = case
    outside = st.integers(max_value=low - 1)
    if high is not None:
        outside = outside | st.integers(min_value=high + 1, max_value=10 ** 30)
    value = data.draw(outside, label=flag)
    folder = tmp_path_factory.mktemp("bounds")
    cwd = os.getcwd()
    os.chdir(folder)
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main([*argv, f"{flag}={value}"])
            except SystemExit as exc:      # how summary leaves on a bad estimate, as argparse does
                code = exc.code
        assert code == 2, err.getvalue()
    finally:
        os.chdir(cwd)
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"layerloom {argv[0]}") and "Traceback" not in lines[0], lines
    assert list(folder.iterdir()) == []


def test_explain_refuses_to_write_over_the_image_it_explains(tmp_path, monkeypatch, capsys):
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    Image.new("L", (28, 28), 128).save("digit.png")
    before = Path("digit.png").read_bytes()
    os.link("digit.png", "same.png")
    for out in ("digit.png", "./digit.png", str(tmp_path / "digit.png"), "same.png"):
        assert main(["explain", MLP, "--image", "digit.png", "--method", "saliency", "--out", out]) == 2
        _one_line_error(capsys.readouterr(), f"--out {out} is the --image itself", "give another --out")
    assert Path("digit.png").read_bytes() == before
    assert main(["explain", MLP, "--image", "digit.png", "--method", "saliency", "--out", "why.png"]) == 0
    assert Path("digit.png").read_bytes() == before and Path("why.png").read_bytes() != before


@pytest.mark.parametrize("command", ["check", "summary", "code", "train", "sweep"])
def test_a_preset_s_bare_name_is_answered_with_where_its_file_is(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    try:
        code = main([command, "lenet5"])
    except SystemExit as exc:     # check, summary and code leave as argparse does
        code = exc.code
    assert code == 2
    _one_line_error(capsys.readouterr(), "layerloom: cannot read lenet5", "does not exist",
                    f"the lenet5 preset is the file {preset_path('lenet5')}")
    assert list(tmp_path.iterdir()) == []


# `layerloom ARGV` in a process of its own for each request (a JSON line: the folder to run in and ARGV), with
# its output in files there, forked from one interpreter that imported torch and Layerloom once
FULL_DISK = """
import json, os, resource, signal, sys
import torch._dynamo                 # imported by both commands' torch.export / torchvision: once here
from layerloom.app.main import main
for line in sys.stdin:
    folder, argv = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.alarm(300)                # a child that hangs ends itself (the test's timeout ends only the parent)
        os.chdir(folder)
        for fd, name in ((1, "../stdout"), (2, "../stderr")):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        sys.exit(main(argv))
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""
FULL_DISK_ARGV = {"import": ["import", "torchvision:resnet18", "--input-shape", "3,32,32", "--out", "i/net.loom.json"],
                  "ensemble": ["ensemble", "RUN", "COPY", "--format", "onnx", "--out", "e"]}


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory, trained_lenet):
    """For each command of FULL_DISK_ARGV: its exit code, stderr and the (empty at first) folder it ran in."""
    import subprocess
    copy = tmp_path_factory.mktemp("second-run") / trained_lenet.name     # a second run: the same run twice is refused
    shutil.copytree(trained_lenet, copy)
    base = tmp_path_factory.mktemp("full-disk")
    requests = []
    for name, argv in FULL_DISK_ARGV.items():
        (base / name / "cwd").mkdir(parents=True)
        requests.append(json.dumps([str(base / name / "cwd"),
                                    [{"RUN": str(trained_lenet), "COPY": str(copy)}.get(a, a) for a in argv]]))
    out = subprocess.run([sys.executable, "-c", FULL_DISK], input="\n".join(requests) + "\n", capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    codes = [json.loads(line) for line in out.stdout.splitlines()]
    return {name: (code, (base / name / "stderr").read_text(), base / name / "cwd")
            for name, code in zip(FULL_DISK_ARGV, codes)}


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limits")
@pytest.mark.parametrize("command", FULL_DISK_ARGV)
def test_a_disk_that_fills_up_is_one_line_not_a_traceback(full_disk, command):
    code, stderr, folder = full_disk[command]
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith(f"layerloom {command}: "), lines
    assert [p for p in folder.rglob("*") if not p.is_dir()] == []      # nothing half-written


@pytest.mark.parametrize("option,value,words", [("--input-shape", "abc", "--input-shape must be whole numbers"),
                                                ("--input-shape", "3,a,32", "--input-shape must be whole numbers"),
                                                ("--args", "[1,", "--args is not valid JSON"),
                                                ("--args", "[" * 5000 + "]" * 5000,
                                                 "--args is not valid JSON (nested too deeply)")])
def test_import_options_written_wrong_are_usage_errors(tmp_path, monkeypatch, capsys, option, value, words):
    # exit 2, as argparse gives for a malformed option; 1 stays for a source that cannot be imported
    monkeypatch.chdir(tmp_path)
    assert main(["import", "torchvision:resnet18", "--out", "net.loom.json", f"{option}={value}"]) == 2
    _one_line_error(capsys.readouterr(), f"layerloom import: {words}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["--out", "elsewhere"], ["--dataset", "shapes"], ["--data", "pictures"],
                                   ["--data-option", "train_count=100"]])
def test_a_resumed_run_refuses_options_that_it_would_ignore_or_mix_into_it(tmp_path, monkeypatch, capsys, extra):
    # a resumed run goes on in its own folder, on its own data (a different data set would be mixed into
    # its metrics and checkpoints from the step it stopped at)
    monkeypatch.chdir(tmp_path)
    Path("run").mkdir()
    assert main(["train", "--resume", "run", *extra]) == 2
    _one_line_error(capsys.readouterr(), f"layerloom train: {extra[0]} cannot change a resumed run",
                    "--init-from run")
    assert [p.name for p in tmp_path.rglob("*")] == ["run"]


def test_an_import_without_weights_does_not_name_the_graph_as_its_weights(tmp_path, monkeypatch, capsys):
    (tmp_path / "plain.py").write_text("import torch\n\n\nclass Net(torch.nn.Module):\n"
                                       "    def forward(self, x):\n        return torch.relu(x).flatten(1)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["import", "plain.py:Net", "--input-shape", "3,4", "--out", "n.loom.json"]) == 0
    out = capsys.readouterr().out
    assert "no weights (the model has none to keep)" in out and "weights in n.loom.json" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.loom.json", "plain.py"]


def test_a_model_that_does_not_run_on_the_input_shape_is_one_line_with_torch_s_reason(tmp_path, monkeypatch,
                                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["import", "torchvision:resnet18", "--input-shape", "2,32,32", "--out", "n.loom.json"]) == 1
    _one_line_error(capsys.readouterr(), "layerloom import: the model does not run on an input of shape [2, 32, 32]",
                    "expected input[2, 2, 32, 32] to have 3 channels, but got 2 channels instead")
    assert list(tmp_path.iterdir()) == []


def test_a_link_to_nothing_in_an_output_path_is_named_as_such(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    problem = in_the_way(tmp_path / "link" / "out")
    assert problem == f"{tmp_path / 'link'} is a link to something that is not there, so nothing can be made inside it"
    with pytest.raises(OSError):                              # what the file system says of it
        (tmp_path / "link" / "out").mkdir(parents=True)


def test_a_sweep_ended_with_sigterm_stops_its_trial_cleanly_and_queues_its_values_again(tmp_path, monkeypatch,
                                                                                         capsys):
    from layerloom.runtime.sweeps import trial

    script = tmp_path / "trial.py"       # stands in for `layerloom train`: stops when asked, as it does
    script.write_text("import json, signal, sys, time\n"
                      "def stop(*_):\n"
                      "    print(json.dumps({'type': 'finished', 'summary': {'status': 'stopped'}}), flush=True)\n"
                      "    sys.exit(130)\n"
                      "signal.signal(signal.SIGINT, stop)\n"
                      "print(json.dumps({'type': 'started', 'run_dir': None, 'epochs': 3}), flush=True)\n"
                      "time.sleep(60)\n", encoding="utf-8")
    monkeypatch.setattr(trial, "TRAIN", [str(script)])
    graph = _two_trial_sweep(tmp_path, "term")
    _signal_at(monkeypatch, "started", signal.SIGTERM)        # what `kill`, a service manager or a logout sends

    def unhandled(signum, frame):                     # the sweep did not take SIGTERM: fail, not end pytest
        raise AssertionError("SIGTERM reached the process, not the sweep")
    before = signal.signal(signal.SIGTERM, unhandled)
    try:
        assert main(["sweep", graph, "--out", str(tmp_path / "sweeps")]) == 143
    finally:
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err
    assert "Stopping the sweep" in err and "Traceback" not in err
    rows = json.loads((tmp_path / "sweeps" / "term" / "results.json").read_text(encoding="utf-8"))
    assert [r["state"] for r in rows] == ["failed", "waiting"] and "stopped" in rows[0]["message"], rows
    assert rows[1]["params"] == rows[0]["params"]          # its values run again when the sweep resumes


def test_a_command_ended_by_ctrl_c_says_so_in_a_line_not_in_silence(monkeypatch, capsys):
    from layerloom.runtime import cli

    def pressed(*_args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "load_or_say", pressed)
    assert main(["check", "any.loom.json"]) == 130
    assert capsys.readouterr().err == "\nlayerloom check: interrupted (Ctrl-C)\n"


def test_a_terminal_that_cannot_show_the_graph_s_name_gets_escapes_not_a_crash(tmp_path):
    import ast
    import subprocess
    graph = json.loads(Path(preset_path("mlp")).read_text())
    graph["name"] = "Réseau ☃ «MLP»"
    path = tmp_path / "g.loom.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    runs = [subprocess.run([sys.executable, "-c", "import sys; from layerloom.app.main import main; sys.exit(main())",
                            command, str(path)], capture_output=True, env=env, timeout=120)
            for command in ("code", "summary")]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    code = runs[0].stdout.decode("ascii")
    assert ast.get_docstring(ast.parse(code)).startswith("Réseau ☃ «MLP»")    # the escapes read back as the name
    assert "R\\xe9seau" in runs[1].stdout.decode("ascii")


def test_initial_weights_skipped_for_their_kind_are_listed_with_the_reason(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file
    from layerloom.graph import compile_graph, load_graph
    state = {k: v.clone() for k, v in compile_graph(load_graph(preset_path("lenet5"))).state_dict().items()}
    state["conv1.weight"] = torch.ones_like(state["conv1.weight"], dtype=torch.int64)      # whole numbers
    save_file(state, str(tmp_path / "w.safetensors"))
    assert main(["train", str(preset_path("lenet5")), "--init-from", str(tmp_path / "w.safetensors"),
                 "--max-steps", "1", "--out", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("initial weights: "))
    assert lines[at].startswith("initial weights: 8 tensors loaded, 2 skipped, 2 left new")
    assert lines[at + 1] == ("  skipped conv1.weight: holds whole numbers (int64), not the floating-point weights "
                             "conv1.weight needs (float32): save the weights as floating-point numbers")
    assert lines[at + 2].startswith("  skipped conv1.bias: block conv1 loads all its tensors or none")
