"""A project exported from a distilled run says that its train.py trains without the teacher: in the README,
in the export's result line and when train.py runs; the teacher's path reaches train.py only as a literal."""
import ast

from layerloom.runtime.export import export_model, load_source
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small


def _module_values(code: str) -> dict:
    """The module-level NAME = literal assignments of train.py, read by Python's own parser."""
    values = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def test_a_distilled_runs_project_says_train_py_trains_without_its_teacher(tmp_path, project_runner):
    data = mnist_small(128, 64)
    teacher = Trainer(lenet(), {"epochs": 1, "max_steps": 2}, None, runs_base=tmp_path / "teacher", data=data)
    assert teacher.run() is not None
    student = Trainer(lenet(), {"epochs": 1, "max_steps": 2, "teacher": str(teacher.run_dir), "alpha": 0.7},
                      None, runs_base=tmp_path / "student", data=data)
    assert student.run() is not None
    _, (result,) = export_model(student.run_dir, ["project"], tmp_path / "export")
    assert f"this run distilled from the teacher {teacher.run_dir}: train.py trains without a teacher" in result.line()
    project = result.path
    readme = (project / "README.md").read_text()
    assert "## Distillation is not carried" in readme and str(teacher.run_dir) in readme
    assert "`train.py` trains without a teacher" in readme and "alpha 0.7" in readme
    assert _module_values((project / "train.py").read_text())["DISTILLED_FROM"] == str(teacher.run_dir)
    proc = project_runner.run(project, "--max-steps", "1", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"the exported run distilled from the teacher {teacher.run_dir}; this script trains without it" \
        in proc.stdout

    # a run that distilled from no teacher says nothing of one
    _, (plain,) = export_model(teacher.run_dir, ["project"], tmp_path / "plain")
    assert "teacher" not in plain.line() and "Distillation" not in (plain.path / "README.md").read_text()
    assert _module_values((plain.path / "train.py").read_text())["DISTILLED_FROM"] is None


def test_a_hostile_teacher_path_stays_a_literal_in_train_py(tmp_path):
    src = load_source(_trained(tmp_path))
    hostile = 'x"""\nimport os; os.system("echo pwned")  # \'\u202e'
    src.config = {**src.config, "teacher": hostile}
    _, (result,) = export_model(src, ["project"], tmp_path / "export")
    code = (result.path / "train.py").read_text()
    assert _module_values(code)["DISTILLED_FROM"] == hostile
    calls = [n for n in ast.walk(ast.parse(code))
             if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"]
    assert calls == [] and "\n" not in result.line()


def _trained(tmp_path):
    t = Trainer(lenet(), {"epochs": 1, "max_steps": 1}, None, runs_base=tmp_path / "runs", data=mnist_small(64, 32))
    assert t.run() is not None
    return t.run_dir
