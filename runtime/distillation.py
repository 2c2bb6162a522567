"""Knowledge distillation: train a (smaller) graph against a trained run's softened outputs.

    layerloom train student.loom.json --teacher runs/20260101-120000-lenet-5 --temperature 4 --alpha 0.7
    Trainer(doc, {"teacher": "runs/...", "temperature": 4.0, "alpha": 0.7})

The loss is  alpha * T² * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * ordinary loss
(Hinton, Vinyals and Dean, 2015; T² keeps the soft term's gradients on the scale of the hard one).
The teacher is compiled from its run's graph and latest checkpoint, runs in eval mode under
torch.no_grad, and never joins the optimizer. The settings live in the run's config, so a resumed
run keeps its teacher.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from layerloom.graph import CompileError, analyze, compile_graph
from layerloom.graph.fileformat import graph_from_dict

from .checkpoints import CheckpointError, load_checkpoint


# said by the trainer, which does not know whether a terminal or the window started it: both ways are named
CHOOSE_ANOTHER = ("give another trained run folder as the teacher (--teacher RUN, or Distillation ▸ Teacher in the "
                  "training settings), or train without one")


def teacher_path(source, run_dir=None) -> str:
    """Where the teacher `source` is, as an absolute path. New runs store it so (see Distillation.setup); a run
    made before that may name it relative to the folder its command ran in: then it is looked for beside the
    run's folder `run_dir` (the run itself, its runs folder, and the folder that holds that). `source`
    unchanged when it is nowhere."""
    path = Path(str(source)).expanduser()
    if path.exists():
        return str(path.resolve())
    if not path.is_absolute() and run_dir is not None:
        run_dir = Path(run_dir).resolve()
        for base in (run_dir, run_dir.parent, run_dir.parent.parent):
            if (base / path).exists():
                return str((base / path).resolve())
    return str(source)


def load_teacher(source, device, run_dir=None) -> tuple[torch.nn.Module, dict]:
    """The teacher's model (eval mode, no gradients, on `device`) and its checkpoint's meta; CheckpointError
    whose `reason` says what is wrong with it (the caller knows where the teacher was named). `run_dir`: the
    run whose settings name it, for a relative path (see teacher_path)."""
    found = teacher_path(source, run_dir)
    if not Path(found).exists():
        where = "" if Path(str(source)).is_absolute() or run_dir is None else \
            f"; looked for it from {Path.cwd()} and beside the run {run_dir}"
        raise CheckpointError(f"{source} is not there any more (moved or deleted{where})")
    ckpt = load_checkpoint(found)
    doc = graph_from_dict(ckpt.meta["graph"])
    try:
        model = compile_graph(doc, analyze(doc, ckpt.meta.get("data_context")), weights=False)
    except CompileError as exc:
        raise CheckpointError(f"the teacher's graph does not compile: {exc}") from None
    model.load_state_dict(ckpt.weights)
    model.eval().requires_grad_(False)
    return model.to(device), ckpt.meta


def distillation_loss(student_logits, teacher_logits, hard_loss, temperature: float, alpha: float):
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits.float() / t, dim=1), F.log_softmax(teacher_logits.float() / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    return alpha * soft + (1.0 - alpha) * hard_loss


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _data_mismatch(meta: dict, trainer) -> str | None:
    """Why the teacher's run saw its samples or classes differently from this run's, or None. The teacher
    reads this run's batches as they are, so its normalisation must be this run's, and its outputs
    must mean the same classes."""
    normalize, info = trainer.config.normalize, trainer.info
    theirs = bool(meta.get("normalize", True))
    if theirs != normalize:
        return (f"was trained with normalize {_on_off(theirs)}, but this run has it {_on_off(normalize)}: the "
                f"teacher would read inputs unlike its own; set normalize {_on_off(theirs)} as in the teacher's run")
    theirs, ours = (meta.get("data_context") or {}).get("vocab_size"), trainer.info.vocab_size
    if theirs and ours and theirs != ours:
        return (f"was trained on a vocabulary of {theirs} tokens, but this run's data set has {ours}: its token "
                "ids would mean other words; distil from a run trained on the same text with the same vocabulary "
                "settings (path, tokenize, min_count, max_size)")
    classes = meta.get("class_names")
    if classes is not None and list(classes) != list(info.class_names):
        return (f"was trained on {meta.get('dataset')}'s classes, which differ from {info.name}'s: its outputs "
                "mean other classes; distil from a run trained on the same classes")
    return None


class Distillation:
    """Trainer extension (built in): active when the run's config names a `teacher`."""

    def __init__(self):
        self.teacher = None

    def setup(self, trainer) -> None:
        from .trainer import TrainingFailed

        cfg = trainer.config
        self.teacher = None
        if not cfg.teacher:
            return
        run_dir = trainer.run_dir if trainer.resume_from is not None else None     # a resumed run's own folder
        try:
            teacher, meta = load_teacher(cfg.teacher, trainer.device, run_dir)
        except CheckpointError as exc:
            raise TrainingFailed(f"teacher: {exc.reason}: {CHOOSE_ANOTHER}") from None
        cfg.teacher = teacher_path(cfg.teacher, run_dir)    # the run's settings name it wherever they are read
        inputs = teacher.meta["layerloom"]["inputs"][0]
        student_shape = tuple(trainer.model.meta["layerloom"]["inputs"][0][1])
        if tuple(inputs[1]) != student_shape:
            raise TrainingFailed(f"teacher: {cfg.teacher} reads samples of shape {tuple(inputs[1])}, but this run's "
                                 f"are {student_shape}: distil from a run trained on the same data")
        probe = torch.zeros((1, *inputs[1]), dtype=getattr(torch, inputs[2]), device=trainer.device)
        with torch.no_grad():
            outputs = teacher(probe).shape[-1]
        if outputs != trainer.num_outputs:
            raise TrainingFailed(f"teacher: {cfg.teacher} has {outputs} outputs but this graph has "
                                 f"{trainer.num_outputs}: distil from a run trained on the same classes")
        problem = _data_mismatch(meta, trainer)
        if problem:
            raise TrainingFailed(f"teacher: {cfg.teacher} {problem}")
        self._read_check(teacher, trainer)
        self.teacher = teacher

    @staticmethod
    def _read_check(teacher, trainer) -> None:
        """The teacher reads a few of this run's own validation samples now, before the run's folder is made:
        a teacher that cannot read them fails here, in words, and not at the first step."""
        from .trainer import TrainingFailed

        n = min(8, len(trainer.val_set))
        if n == 0:
            return
        x, _y = trainer._batch(trainer.val_set, torch.arange(n), trainer.val_tf)
        try:
            with torch.no_grad():
                teacher(x)
        except (RuntimeError, IndexError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise TrainingFailed(f"teacher: {trainer.config.teacher} cannot read this run's samples ({first}): "
                                 "distil from a run trained on the same data") from None

    def loss(self, trainer, x, logits, y, loss):
        if self.teacher is None:
            return loss
        with torch.no_grad():
            target = self.teacher(x)
        return distillation_loss(logits, target, loss, trainer.config.temperature, trainer.config.alpha)
