"""A run with a teacher, or a prune, refused for a problem the run's start finds leaves nothing behind: no failed,
empty run folder in the runs list, no pruned graph without the fine-tuning it was asked for."""
import shutil

from layerloom.app.main import main
from layerloom.graph import save_graph
from layerloom.runtime.runs import list_runs
from layerloom.runtime.trainer import Trainer

from .text_helpers import text_net as _text_net, texts_csv as _texts
from .trainer_helpers import Recorder, small_net


def test_a_teacher_of_a_smaller_vocabulary_is_refused_before_the_run_folder(tmp_path, capsys):
    csv = _texts(tmp_path / "texts.csv")
    teacher = Trainer(_text_net(csv, 12), {"max_steps": 2}, None, runs_base=tmp_path / "teacher")
    assert teacher.run() is not None
    student = tmp_path / "student.loom.json"
    save_graph(_text_net(csv, 60), student)
    runs = tmp_path / "runs"
    assert main(["train", str(student), "--teacher", str(teacher.run_dir), "--out", str(runs), "--quiet"]) == 1
    out = capsys.readouterr()
    assert "teacher:" in out.out + out.err and "vocabulary of 12 tokens" in out.out + out.err, out
    assert "Traceback" not in out.err
    assert list_runs(runs) == [] and (not runs.exists() or list(runs.iterdir()) == [])


def test_a_teacher_whose_run_folder_was_deleted_is_named_as_gone(tmp_path):
    teacher = Trainer(small_net(), {"max_steps": 2}, None, runs_base=tmp_path / "teacher")
    teacher.run()
    shutil.rmtree(teacher.run_dir)
    rec = Recorder()
    Trainer(small_net(), {"max_steps": 2, "teacher": str(teacher.run_dir)}, rec, runs_base=tmp_path / "runs").run()
    (failed,) = rec.of("failed")
    assert failed["message"].startswith(f"teacher: {teacher.run_dir} is not there any more"), failed
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_a_prune_whose_fine_tuning_cannot_start_leaves_no_pruned_graph_and_no_run(tmp_path, capsys):
    teacher = Trainer(small_net(), {"max_steps": 2}, None, runs_base=tmp_path / "teacher")
    teacher.run()
    distilled = Trainer(small_net(), {"max_steps": 2, "teacher": str(teacher.run_dir)}, None,
                        runs_base=tmp_path / "distilled")
    assert distilled.run() is not None
    shutil.rmtree(teacher.run_dir)                    # the fine-tuning would distil from it again
    out, runs = tmp_path / "pruned", tmp_path / "runs"
    assert main(["prune", str(distilled.run_dir), "--ratio", "0.5", "--out", str(out), "--runs", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerloom prune: ") and "is not there any more" in err and "Traceback" not in err, err
    assert "nothing was saved" in err
    assert not out.exists() or list(out.iterdir()) == []
    assert not runs.exists() or list(runs.iterdir()) == []


def test_a_teacher_that_fails_on_this_runs_samples_is_refused_at_the_start(tmp_path, monkeypatch):
    from layerloom.runtime import distillation
    csv = _texts(tmp_path / "texts.csv")
    teacher = Trainer(_text_net(csv, 12), {"max_steps": 2}, None, runs_base=tmp_path / "teacher")
    teacher.run()
    monkeypatch.setattr(distillation, "_data_mismatch", lambda meta, trainer: None)   # e.g. an older run's meta
    rec = Recorder()
    Trainer(_text_net(csv, 60), {"max_steps": 2, "teacher": str(teacher.run_dir)}, rec,
            runs_base=tmp_path / "runs").run()
    (failed,) = rec.of("failed")
    assert failed["message"].startswith(f"teacher: {teacher.run_dir} cannot read this run's samples ("), failed
    assert failed["message"].endswith("distil from a run trained on the same data") and not rec.of("started")
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
