"""The Optuna study behind a sweep: its storage, sampler and pruner, and what it remembers.

Storage: by default an Optuna journal file `sweeps/<name>/journal.log` (JournalStorage with a
file backend handles several processes writing at once; SQLite locks up under parallel writers).
`--storage` takes an RDB URL (`postgresql://...`, `mysql://...`, `sqlite:///...`) or a journal
file (`journal:PATH`, or any path), e.g. on a filesystem that several machines share.

The study keeps the graph and the validated sweep section in its user attributes, so a
`layerloom sweep-worker --storage URL` on another machine needs nothing but the storage.

A sweep folder (`sweeps/<name>/`: runs/, trials/, results.json) belongs to the storage of the sweep that first
ran in it, as `storage.json` records: a sweep of the same name kept in another storage is refused, in words,
before it runs a trial (its trial-0000 runs would pile up beside the other's, and results.json would hold only
the last one's trials).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from optuna.trial import TrialState

from layerloom.graph.fileformat import GraphFileError, graph_from_dict, graph_to_dict, network_part
from layerloom.graph.quoting import shown

from .spec import SweepError, SweepSpec, parse_section
from ..config import ConfigError, TrainConfig
from ..processes import alive

ATTR = "layerloom"
JOURNAL = "journal.log"
FOLDER_STORAGE = "storage.json"       # in a sweep folder: the storage whose sweep it holds
RECORD_START = b'{"op_code":'          # how Optuna begins each line of a journal
optuna.logging.set_verbosity(optuna.logging.WARNING)


def open_storage(url: str | None, folder: Path):
    """The storage for `url` (None: the sweep folder's own journal file)."""
    if url is None:
        folder.mkdir(parents=True, exist_ok=True)
        storage = _journal(folder / JOURNAL)
        storage.layerloom_sweep_folder = folder     # create_study checks the folder is this storage's
        return storage
    if url.startswith("journal:") or "://" not in url:
        path = Path(url[len("journal:"):] if url.startswith("journal:") else url).expanduser()
        if path.is_dir():
            raise SweepError(f"--storage {url}: this is a folder; give a journal file path such as {path / JOURNAL}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return _journal(path)
    try:
        return optuna.storages.RDBStorage(url)
    except ImportError as exc:
        raise SweepError(f"--storage {url}: this database needs a driver that is not installed ({exc})") from None
    except Exception as exc:   # sqlalchemy's errors: bad URL, server unreachable
        raise SweepError(f"--storage {url}: cannot open the database ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _drop_cut_record(path: Path) -> None:
    """A process killed while it appended to the journal (a power cut, kill -9) leaves a last record without its
    line end. Optuna passes over it, so it never counted; but the next record would be written onto the same line
    and the journal could not be read again. It is cut off, under the journal's own lock (a writer holds that
    lock while it writes, so no live process is half-way through a record then)."""
    if not path.is_file():
        return
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            keep, step = 0, 1 << 16
            for end in range(size, 0, -step):          # the last line end, read backwards in chunks
                start = max(0, end - step)
                f.seek(start)
                cut = f.read(end - start).rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
            f.seek(keep)
            tail = f.read(len(RECORD_START))
            if keep == 0 or not (tail.startswith(RECORD_START) or RECORD_START.startswith(tail)):
                raise ValueError("its last line is not the start of a record")     # not one Layerloom cut short
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    finally:
        lock.release()


def _journal(path: Path) -> JournalStorage:
    """Optuna's journal file at `path`; SweepError when its records cannot be read back (edited, damaged)."""
    where = "its records are not ones Optuna wrote"
    try:
        if path.is_file():                 # Optuna passes over a bad last line, then fails once one follows it
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    if line.endswith(b"\n"):
                        where = f"line {number:,} is not a record Optuna wrote"
                        json.loads(line)
            where = "its records are not ones Optuna wrote"
        _drop_cut_record(path)
        storage = JournalStorage(JournalFileBackend(str(path)))
        storage.get_all_studies()          # replays every record now, not at the first question mid-sweep
        return storage
    # JSON, text, no shape, or nested past what Python reads (a line of 100,000 "[")
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError, RecursionError):
        raise SweepError(f"the sweep's journal {shown(str(path), 200)} is damaged and cannot be read ({where}): "
                         "move it away to start the sweep afresh (its trials are lost), or put back a copy") from None


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid, without its `study.stop()` once the grid is used up: that call is only allowed
    inside `study.optimize`, and the coordinator keeps the budget (the grid's size) itself."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def sampler_for(spec: SweepSpec, done: int = 0, who: str = ""):
    """The sampler, seeded with the sweep's seed. A process that joins a study holding `done` trials already (a
    resumed sweep; `who`: a sweep-worker beside others) seeds it from (seed, done, who): with the sweep's own seed
    it would draw again, one by one, the values the first trials drew (random values, TPE's first ones). The grid
    keeps the sweep's seed in every process: its points are numbered in the order that seed shuffles them into,
    and the study records trials by those numbers."""
    if spec.sampling == "grid":
        return _GridSampler(spec.search_space(), seed=spec.seed)
    seed = spec.seed
    if done or who:
        seed = int.from_bytes(hashlib.sha256(f"{spec.seed}:{done}:{who}".encode()).digest()[:4], "big")
    if spec.sampling == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner_for(spec: SweepSpec):
    if not spec.pruning:
        return optuna.pruners.NopPruner()
    # epochs are reported as steps 1, 2, ...: warm-up N means no pruning decision before epoch N+1
    return optuna.pruners.MedianPruner(n_startup_trials=spec.pruning["startup_trials"],
                                       n_warmup_steps=spec.pruning["warmup_epochs"])


def storage_place(storage) -> str:
    """Where a storage keeps its studies, in words that tell two storages apart: "the journal /abs/path" or
    "the database URL" (without its password)."""
    backend = getattr(storage, "_backend", None)          # a journal's file, or the database behind Optuna's cache
    path = getattr(backend, "_file_path", None)
    if isinstance(path, str):
        return f"the journal {os.path.realpath(path)}"
    url = getattr(backend if backend is not None else storage, "url", None)
    if isinstance(url, str):
        return "the database " + re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
    return f"another {type(storage).__name__}"


def check_folder(folder, storage, name: str, claim: bool = False, rename: str = "sweep.name or --name") -> None:
    """SweepError when the sweep folder `folder` holds the runs and results of a sweep called `name` kept in
    another storage than `storage`; `claim`: record `storage` as the folder's (when none is recorded)."""
    path = Path(folder) / FOLDER_STORAGE
    here = storage_place(storage)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("storage")
    except (OSError, ValueError, AttributeError, RecursionError):
        recorded = None            # none yet, or not one Layerloom wrote: the folder is this sweep's from now on
    if isinstance(recorded, str) and recorded != here:
        raise SweepError(f"the folder {shown(str(folder), 200)} holds the runs and results of the sweep "
                         f"{shown(name, 80)} kept in {shown(recorded, 200)}, and this one is kept in "
                         f"{shown(here, 200)}: their trials would be mixed. Give this sweep another name ({rename}) "
                         "or another folder, or resume that sweep with its own storage")
    if claim and recorded != here:
        from ..runs import write_json
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"format": "layerloom.sweep-folder", "storage": here})


def create_study(doc, spec: SweepSpec, storage, rename: str = "sweep.name or --name") -> optuna.Study:
    """Create the study, or open it again (resume) when one of that name exists in the storage. `rename`:
    how a person gives the sweep another name where they started it (the CLI's words by default)."""
    folder = getattr(storage, "layerloom_sweep_folder", None)      # (open_storage's for the folder's own journal)
    if folder is not None:
        check_folder(folder, storage, spec.name, rename=rename)
    study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler_for(spec),
                                pruner=pruner_for(spec), direction=spec.direction, load_if_exists=True)
    saved = study.user_attrs.get(ATTR)
    if not isinstance(saved, dict):
        study.set_user_attr(ATTR, {"graph": graph_to_dict(doc), "sweep": spec.to_section()})
    else:
        _check_resumable(study, saved, spec, doc, rename)
        study.sampler = sampler_for(spec, done=len(study.get_trials(deepcopy=False)))
    return study


# settings that change how fast a trial trains, not what it learns: a resume may change them
UNSCORED_SETTINGS = ("device", "threads")


def _network(graph: dict, swept) -> tuple:
    """What a graph's trials compute and learn from: its network (fileformat.network_part) without the
    block parameters the sweep sets, and its data set."""
    part = network_part(graph)
    blocks = []
    for b in part["blocks"]:
        params = {k: v for k, v in (b.get("params") or {}).items() if f"blocks.{b.get('id')}.params.{k}" not in swept}
        blocks.append(json.dumps({**b, "params": params}, sort_keys=True, default=str))
    training = graph.get("training") or {}
    return (sorted(blocks), sorted(json.dumps(e, sort_keys=True) for e in part["edges"]),
            json.dumps([training.get("dataset"), training.get("dataset_options")], sort_keys=True, default=str))


def _training(graph: dict, spec: SweepSpec) -> dict:
    """The training settings a graph's trials train with that the sweep does not set, defaults filled in (a file
    that names a default and one that leaves it out train alike)."""
    raw = graph.get("training") or {}
    try:
        settings = TrainConfig.from_dict(dict(raw)).to_dict()
    except (ConfigError, TypeError, ValueError):
        settings = dict(raw) if isinstance(raw, dict) else {}
    skip = {"dataset", "dataset_options", *UNSCORED_SETTINGS} | {p.split(".", 1)[1] for p in spec.params
                                                                  if p.startswith("training.")}
    if spec.epochs is not None:            # sweep.epochs sets every trial's epochs (compared as the sweep's own)
        skip.add("epochs")
    return {k: v for k, v in settings.items() if k not in skip}


def _training_differs(old: dict, new: dict) -> str | None:
    """"its trials trained with optimizer sgd, not adam" for the first setting that differs, else None."""
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"its trials trained with training.{key} {old.get(key)!r}, not {new.get(key)!r}"
    return None


def _check_resumable(study: optuna.Study, attrs: dict, spec: SweepSpec, doc, rename: str) -> None:
    """A sweep resumes only with the network, data set, objective, parameter ranges and the other training
    settings its trials were scored with: any other would rank old and new values together (and spend the old
    trials' budget). What may change: the budget, the strategy, the workers, how fast trials train (device,
    threads), and the swept values in the graph (Apply best)."""
    saved, new = attrs.get("sweep") or {}, spec.to_section()
    if not isinstance(saved, dict) or not isinstance(saved.get("params", {}), dict):
        raise SweepError(f"{_not_ours(spec.name)}: give this sweep another name ({rename}), or delete the old "
                         "sweep's folder")
    graph = attrs.get("graph") if isinstance(attrs.get("graph"), dict) else None
    if study.direction.name.lower() != spec.direction or saved.get("objective", new["objective"]) != spec.objective:
        differs = f"its objective is {saved.get('objective', study.direction.name.lower())}, not {spec.objective}"
    elif saved.get("params", new["params"]) != new["params"]:
        old = ", ".join(f"{p}={s}" for p, s in saved["params"].items())
        differs = f"it varies {old}"
    elif saved.get("epochs") != new.get("epochs"):
        differs = f"its trials trained for sweep.epochs {saved.get('epochs')!r}, not {new.get('epochs')!r}"
    elif saved.get("seed", 0) != new["seed"]:
        differs = f"its trials trained with sweep.seed {saved.get('seed', 0)!r}, not {new['seed']!r}"
    elif graph is not None and _saved_network(graph, spec, rename) != _network(graph_to_dict(doc), spec.params):
        differs = "its trials trained another network or data set (the graph has changed since)"
    elif graph is not None and _training_differs(_training(graph, spec), _training(graph_to_dict(doc), spec)):
        differs = _training_differs(_training(graph, spec), _training(graph_to_dict(doc), spec))
    else:
        return
    raise SweepError(f'a sweep called "{spec.name}" already exists and {differs}: give this one another name '
                     f"({rename}), or delete the old sweep's folder, or use its settings to resume it")


def _saved_network(graph: dict, spec: SweepSpec, rename: str) -> tuple:
    """_network of the graph a study keeps; SweepError when it is not a graph's shape (damaged)."""
    try:
        _training(graph, spec)
        return _network(graph, spec.params)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise SweepError(f"{_not_ours(spec.name)}: its graph cannot be read; give this sweep another name "
                         f"({rename}), or delete the old sweep's folder") from None


def load_study(storage, name: str | None = None):
    """A sweep's study from a shared storage, with its graph and spec: (study, doc, spec)."""
    names = optuna.get_all_study_names(storage)
    if name is None:
        if len(names) != 1:
            raise SweepError("the storage holds " + (f"the studies {', '.join(names)}: choose one with --study NAME"
                                                     if names else "no sweep yet: start one with layerloom sweep"))
        name = names[0]
    elif name not in names:
        raise SweepError(f"the storage has no sweep called {name!r}"
                         + (f" (it has {', '.join(names)})" if names else ""))
    bare = optuna.load_study(study_name=name, storage=storage)
    doc, spec = _saved_sweep(name, bare.user_attrs.get(ATTR))
    done = len(bare.get_trials(deepcopy=False))
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler_for(spec, done, owner_tag()),
                              pruner=pruner_for(spec))
    return study, doc, spec


def _not_ours(name) -> str:
    return f"the study {str(name)!r} in this storage was not written by layerloom sweep, or is damaged"


def _saved_sweep(name, saved) -> tuple:
    """The graph and sweep settings a study keeps (create_study writes them), checked: a storage may hold
    studies of other programs, or damaged ones."""
    todo = (": start the sweep again with layerloom sweep FILE --storage URL under a new name (--name), or "
            "choose another study with --study NAME")
    if not isinstance(saved, dict) or not isinstance(saved.get("graph"), dict) or \
            not isinstance(saved.get("sweep"), dict):
        missing = "holds no graph" if not isinstance(saved, dict) or not isinstance(saved.get("graph"), dict) \
            else "holds no sweep settings"
        raise SweepError(f"{_not_ours(name)} (it {missing}){todo}")
    try:
        doc = graph_from_dict(saved["graph"])
        return doc, parse_section(doc, saved["sweep"])
    except GraphFileError as exc:
        raise SweepError(f"{_not_ours(name)} (its graph cannot be read: {exc.reason}){todo}") from None
    except SweepError as exc:
        raise SweepError(f"{_not_ours(name)} (its sweep settings cannot be used: {exc}){todo}") from None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise SweepError(f"{_not_ours(name)} (its graph or sweep settings cannot be read){todo}") from None


def owner_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Trials left running by a coordinator of this machine that is gone: mark them failed and queue
    their values again. Trials run by live processes (other workers) are left alone."""
    host = socket.gethostname()
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(t.user_attrs.get("owner", ""))
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or alive(int(pid)):
            continue
        storage = study._storage   # Optuna's storage API: set attributes on a trial this process did not ask
        storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        storage.set_trial_user_attr(t._trial_id, "message", "interrupted: the sweep stopped while this trial ran; "
                                                            "its values are tried again")
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(dict(t.params), skip_if_exists=False)
        recovered.append(t.number)
    return recovered


def trials_counted(study: optuna.Study) -> int:
    """Trials that use up the budget: all but the interrupted ones (their values are queued again)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("interrupted"))
