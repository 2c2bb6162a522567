"""The `.loom.json` file format: load with full validation, save atomically.

Only JSON is read (never eval, never pickle). Every problem raises GraphFileError whose message
names the JSON location (`$.blocks[3].params.kernel_size`) and what is wrong.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import stat
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from .blocks import REGISTRY, get_kind
from .document import POSITION_LIMIT, Edge, GraphDocument, id_problem
from .groups import parents, path_problem
from .params import ParamError
from .quoting import shown

FORMAT = "layerloom.graph"
VERSION = 4        # 2 added "weights", and per block "trainable" and "group"; 3 added "collapsed"; 4 added
# "weights_ids" (written only by a graph that has renamed blocks: others still say 3). Older files load
MAX_BYTES = 16 * 1024 * 1024
MAX_BLOCKS = 10_000
MAX_EDGES = 50_000
# POSITION_LIMIT (from document.py, whose add and move keep every block within it): a block further from the
# origin on the canvas than this is refused
TOP_KEYS = {"format", "version", "name", "description", "blocks", "edges", "training", "weights", "sweep",
            "collapsed", "weights_ids"}
BLOCK_KEYS = {"id", "kind", "params", "pos", "trainable", "group"}
EDGE_KEYS = {"from", "to", "from_port", "to_port"}


class GraphFileError(ValueError):
    """A graph file that cannot be loaded; the message says where and why."""

    def __init__(self, message: str, path: str | None = None, location: str | None = None):
        self.path, self.location, self.reason = path, location, message
        where = " ".join(p for p in (str(path) if path else "", f"at {location}" if location else "") if p)
        super().__init__(f"{where}: {message}" if where else message)


def _refuse_constant(name):
    raise ValueError(f"{name} is not allowed in a graph file")


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f'the key "{k}" appears twice in one object')
        out[k] = v
    return out


class _LongNumber:
    """A whole number in the file with more digits than Python turns into a number (4,300): where it is is
    found after parsing, for the message."""

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(text: str, found: list):
    try:
        return int(text)
    except ValueError:             # too many digits (json's own pattern allows only digits and a minus sign)
        found.append(_LongNumber(len(text.lstrip("-"))))
        return found[-1]


def _where_long(value, at: str = "$"):
    """(location, _LongNumber) of the first over-long number in parsed JSON, in the $.blocks[3].params style."""
    if isinstance(value, _LongNumber):
        return at, value
    items = (((f"{at}.{shown(k)}", v) for k, v in value.items()) if isinstance(value, dict) else
             ((f"{at}[{i}]", v) for i, v in enumerate(value)) if isinstance(value, list) else ())
    for where, v in items:
        hit = _where_long(v, where)
        if hit:
            return hit
    return None


def parse_graph_text(text: str, path: str | None = None) -> dict:
    long_numbers: list = []
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys,
                          parse_int=lambda t: _parse_int(t, long_numbers))
    except json.JSONDecodeError as exc:
        raise GraphFileError(f"this is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
                             "A Layerloom graph is a .loom.json file.", path) from None
    except (ValueError, RecursionError) as exc:
        raise GraphFileError(f"this is not a usable JSON file: {exc}", path) from None
    if long_numbers:
        try:
            where, number = _where_long(data) or ("$", long_numbers[0])
        except RecursionError:      # nested deeper than Python's stack: the number is named, not its place
            where, number = "$", long_numbers[0]
        raise GraphFileError(f"this number has {number.digits:,} digits, more than the "
                             f"{sys.get_int_max_str_digits():,} a number in a graph file may have: correct it "
                             "(no setting needs more than a few digits)", path, shown(where, 200))
    return data


def read_graph_file(path) -> dict:
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GraphFileError("the file does not exist", str(path)) from None
    except OSError as exc:
        raise GraphFileError(f"the file cannot be read ({exc.strerror})", str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise GraphFileError("this is a folder, not a graph file", str(path))
    if not stat.S_ISREG(st.st_mode):   # a FIFO would block, /dev/zero never ends
        raise GraphFileError("this is not a regular file (a device, pipe or socket); a graph file is a "
                             ".loom.json file", str(path))
    if st.st_size > MAX_BYTES:
        raise GraphFileError(f"the file is {st.st_size / 1e6:.1f} MB; graph files are at most "
                             f"{MAX_BYTES // 2**20} MB. Is this really a .loom.json graph?", str(path))
    raw = read_bounded(path, MAX_BYTES, GraphFileError)


    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GraphFileError("the file is not UTF-8 text; a graph file is JSON text", str(path)) from None
    return parse_graph_text(text, str(path))


def read_bounded(path, limit: int, error=ValueError) -> bytes:
    """At most `limit` bytes of a regular file, never trusting its reported size (it may grow, or
    be /proc-like); raises `error` with a one-line reason when it holds more or cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise error(f"{path} is not a regular file (a device, pipe or socket)")
            raw = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{path} cannot be read ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise error(f"{path} holds more than {limit // 2**20} MB")
    return raw


def load_graph(source, path: str | None = None) -> GraphDocument:
    """Load a graph from a path or an already-parsed dict; raises GraphFileError."""
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        data = read_graph_file(source)
    else:
        data = source
    doc = graph_from_dict(data, path)
    if isinstance(source, (str, os.PathLike)):
        doc.path = str(Path(source).resolve())
    return doc


def _echo(v: Any) -> str:
    """A value from the file, quoted for a message: JSON, escaped and cut short."""
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    return shown(text)


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def graph_from_dict(data: Any, path: str | None = None) -> GraphDocument:
    def fail(loc: str, msg: str):
        raise GraphFileError(msg, path, loc)

    if not isinstance(data, dict):
        fail("$", f"the file holds {_type_name(data)}, but a graph file holds a JSON object")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        fail("$", f"the file holds text that is not valid Unicode ({shown(exc.object[exc.start:exc.end])}, a lone "
                  "surrogate): it cannot be saved, trained or exported. Remove that character.")
    except (TypeError, ValueError):
        pass   # not plain JSON data: the checks below say where
    if data.get("format") != FORMAT:
        fail("$.format", f'expected "format": "{FORMAT}" (got {_echo(data.get("format"))}); '
                         "this is not a Layerloom graph file")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        fail("$.version", f"expected a format version number such as 1, got {_echo(version)}")
    if version > VERSION:
        fail("$.version", f"this file was written by a newer Layerloom (format version {_echo(version)}); this version "
                          f"reads format version {VERSION}. Update Layerloom to open it.")
    for key in data:
        if key not in TOP_KEYS:
            fail(f"$.{shown(key)}", f'unknown key "{shown(key)}"; a graph file has {", ".join(sorted(TOP_KEYS))}')
    name = data.get("name", "Untitled")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        fail("$.name", "name must be a non-empty string of at most 200 characters")
    description = data.get("description", "")
    if not isinstance(description, str):
        fail("$.description", f"description must be a string, not {_type_name(description)}")
    training = data.get("training", {})
    if not isinstance(training, dict):
        fail("$.training", f"training must be an object, not {_type_name(training)}")
    sweep = data.get("sweep", {})
    if not isinstance(sweep, dict):   # its contents are checked by layerloom.runtime.sweeps when a sweep starts
        fail("$.sweep", f"sweep must be an object, not {_type_name(sweep)}")
    blocks = data.get("blocks")
    if not isinstance(blocks, list):
        fail("$.blocks", "expected a list of blocks" + ("" if blocks is None else f", got {_type_name(blocks)}"))
    if len(blocks) > MAX_BLOCKS:
        fail("$.blocks", f"{len(blocks)} blocks is more than the {MAX_BLOCKS} a graph may hold")
    edges = data.get("edges", [])
    if not isinstance(edges, list):
        fail("$.edges", f"expected a list of edges, got {_type_name(edges)}")
    if len(edges) > MAX_EDGES:
        fail("$.edges", f"{len(edges)} edges is more than the {MAX_EDGES} a graph may hold")

    weights = data.get("weights")
    if weights is not None:
        if (not isinstance(weights, str) or not weights.endswith(".safetensors") or len(weights) > 500
                or Path(weights).is_absolute() or "\\" in weights):
            fail("$.weights", "weights must name a .safetensors file relative to the graph file's folder, "
                              'such as "resnet18.safetensors"')

    collapsed = data.get("collapsed", [])
    if (not isinstance(collapsed, list) or len(collapsed) > MAX_BLOCKS
            or not all(isinstance(c, str) and 0 < len(c) <= 300 for c in collapsed)):
        fail("$.collapsed", 'collapsed must be a list of group names such as ["layer1", "layer2.0"]')

    doc = GraphDocument(name, description, training)
    doc.weights = weights
    doc.collapsed = sorted(set(collapsed))
    doc.sweep = dict(sweep)
    for i, b in enumerate(blocks):
        loc = f"$.blocks[{i}]"
        if not isinstance(b, dict):
            fail(loc, f"a block must be an object, not {_type_name(b)}")
        for key in b:
            if key not in BLOCK_KEYS:
                fail(f"{loc}.{shown(key)}", f'unknown key "{shown(key)}"; a block has id, kind, params, pos, trainable and group')
        bid = b.get("id")
        if (why := id_problem(bid)):
            fail(f"{loc}.id", f"{_echo(bid)} is not a usable id: {why}")
        if bid in doc.blocks:
            fail(f"{loc}.id", f'the id "{bid}" is used by two blocks; ids must be unique')
        kind_name = b.get("kind")
        if not isinstance(kind_name, str) or kind_name not in REGISTRY:
            close = difflib.get_close_matches(kind_name[:100], REGISTRY, n=1) if isinstance(kind_name, str) else []
            hint = f' Did you mean "{close[0]}"?' if close else ""
            fail(f"{loc}.kind", f"unknown block kind {_echo(kind_name)}.{hint}")
        kind = get_kind(kind_name)
        params = b.get("params", {})
        if not isinstance(params, dict):
            fail(f"{loc}.params", f"params must be an object, not {_type_name(params)}")
        clean = {}
        for pname, value in params.items():
            if pname not in kind.param_names:
                fail(f"{loc}.params.{shown(pname)}", f'{kind_name} has no parameter "{shown(pname)}" '
                                              f'(it has: {", ".join(kind.param_names) or "none"})')
            try:
                clean[pname] = kind.param(pname).check(value)
            except ParamError as exc:
                fail(f"{loc}.params.{pname}", str(exc))
        pos = b.get("pos", [0, 0])
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
            fail(f"{loc}.pos", "pos must be a list of two numbers [x, y]")
        if not all(abs(v) < POSITION_LIMIT and math.isfinite(v) for v in pos):      # (NaN is not within)
            fail(f"{loc}.pos", f"pos must lie within {POSITION_LIMIT:,.0f} of the origin on the canvas, not "
                               f"{shown(json.dumps(pos))}: set it to [0, 0] (Auto Layout places the block)")
        trainable = b.get("trainable", True)
        if not isinstance(trainable, bool):
            fail(f"{loc}.trainable", f"trainable must be true or false, not {_type_name(trainable)}")
        group = b.get("group", "")
        if not isinstance(group, str) or len(group) > 300:
            fail(f"{loc}.group", "group must be a module path such as \"layer1.0\" (text, at most 300 characters)")
        if (why := path_problem(group)):
            fail(f"{loc}.group", f"{_echo(group)} is not a usable group: {why}")
        doc.add_block(kind_name, clean, pos, block_id=bid, trainable=trainable, group=group)

    seen = set()
    for i, e in enumerate(edges):
        loc = f"$.edges[{i}]"
        if not isinstance(e, dict):
            fail(loc, f"an edge must be an object, not {_type_name(e)}")
        for key in e:
            if key not in EDGE_KEYS:
                fail(f"{loc}.{shown(key)}", f'unknown key "{shown(key)}"; an edge has from, to, from_port and to_port')
        for end in ("from", "to"):
            if not isinstance(e.get(end), str) or e.get(end) not in doc.blocks:
                fail(f"{loc}.{end}", f"the edge refers to a block {_echo(e.get(end))} that does not exist")
        ports = []
        for key in ("from_port", "to_port"):
            v = e.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                fail(f"{loc}.{key}", f"{key} must be a whole number ≥ 0, got {_echo(v)}")
            ports.append(v)
        src, dst = e["from"], e["to"]
        if ports[0] >= doc.output_count(src):
            fail(f"{loc}.from_port", f"{src} ({doc.blocks[src].kind}) has no output port {ports[0]}")
        if ports[1] >= doc.input_count(dst):
            fail(f"{loc}.to_port", f"{dst} ({doc.blocks[dst].kind}) has no input port {ports[1]} "
                                   f"(it has {doc.input_count(dst)})")
        key = (src, dst, ports[0], ports[1])
        if key in seen:
            fail(loc, f"the wire from {src} to {dst} appears twice")
        seen.add(key)
        if src == dst:
            fail(loc, f"{src} cannot be wired into itself")
        # Every check connect() makes is done above, in constant time: connect() looks for the wire
        # in the list of wires, which made loading quadratic in the number of wires.
        doc.edges.append(Edge(src, dst, ports[0], ports[1]))
    doc.weights_ids = _weights_ids(data.get("weights_ids", {}), doc, fail)
    doc.revision = 0
    return doc


def _weights_ids(value, doc: GraphDocument, fail) -> dict:
    """`weights_ids`: {block id: the id its tensors have in the weights file} for blocks renamed since the
    file was written (graph/weights.py). Each names a block of the graph, and no two share a weights id."""
    usage = ('weights_ids must map the ids of renamed blocks to their ids in the weights file, such as '
             '{"stem_conv": "conv1"}')
    if not isinstance(value, dict) or len(value) > MAX_BLOCKS:
        fail("$.weights_ids", usage)
    for block_id, old in value.items():
        if block_id not in doc.blocks:
            fail(f"$.weights_ids.{shown(block_id)}", f"{_echo(block_id)} is not a block of this graph; {usage}")
        why = id_problem(old) or ("it is the block's own id" if old == block_id else None)
        if why:
            fail(f"$.weights_ids.{shown(block_id)}", f"{_echo(old)} is not a usable id: {why}")
    if len(set(value.values())) != len(value):
        fail("$.weights_ids", "two blocks name the same id in the weights file; each block's tensors belong to it")
    return dict(value)


def graph_to_dict(doc: GraphDocument) -> dict:
    blocks = []
    for b in doc.blocks.values():
        item = {"id": b.id, "kind": b.kind, "params": dict(b.params),
                "pos": [_clean_num(b.pos[0]), _clean_num(b.pos[1])]}
        if not b.trainable:
            item["trainable"] = False
        if b.group:
            item["group"] = b.group
        blocks.append(item)
    edges = []
    for e in doc.edges:
        d = {"from": e.src, "to": e.dst}
        if e.src_port:
            d["from_port"] = e.src_port
        if e.dst_port:
            d["to_port"] = e.dst_port
        edges.append(d)
    out = {"format": FORMAT, "version": 3, "name": doc.name}
    if doc.description:
        out["description"] = doc.description
    if doc.weights:
        out["weights"] = doc.weights
        renamed = {k: v for k, v in doc.weights_ids.items() if k in doc.blocks and v != k}
        if renamed and len(set(renamed.values())) == len(renamed):
            out["weights_ids"] = renamed     # an older Layerloom says to update, rather than dropping them
            out["version"] = 4
    out.update({"blocks": blocks, "edges": edges, "training": dict(doc.training)})
    if doc.sweep:
        out["sweep"] = dict(doc.sweep)
    groups = {name for b in doc.blocks.values() for name in parents(b.group)}
    if collapsed := [name for name in doc.collapsed if name in groups]:
        out["collapsed"] = collapsed
    return out


def _clean_num(v: float):
    return int(v) if float(v).is_integer() else round(v, 2)


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _json(value) -> str:
    """JSON text with letters of every script as they are, but characters that do not show (controls, bidi
    overrides, line and paragraph separators, lone surrogates) as \\u escapes: the file reads as it parses in
    any editor, and a lone surrogate cannot stop it being written."""
    text = json.dumps(value, ensure_ascii=False)
    if not any(_invisible(ch) for ch in text):
        return text
    return "".join(json.dumps(ch)[1:-1] if _invisible(ch) else ch for ch in text)


def dumps_graph(doc: GraphDocument) -> str:
    """JSON text with one block or edge per line: readable, and small diffs."""
    data = graph_to_dict(doc)
    lines = ["{"]
    keys = list(data)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = data[key]
        if key in ("blocks", "edges") and value:
            items = ",\n".join("    " + _json(item) for item in value)
            lines.append(f'  "{key}": [\n{items}\n  ]{comma}')
        else:
            lines.append(f'  "{key}": {_json(value)}{comma}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def default_mode() -> int:
    """The permissions a newly created file gets (0666 minus the umask), which mkstemp does not apply."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def network_part(graph: dict) -> dict:
    """What decides the network a saved graph computes: its blocks without their place on the canvas
    (pos, group) and its wires. Keys of results that only depend on the network are made from it."""
    return {"blocks": [{k: v for k, v in b.items() if k not in ("pos", "group")} for b in graph.get("blocks", [])],
            "edges": graph.get("edges", [])}


def atomic_write_text(path, text: str) -> None:
    """Write text to `path` via a temp file in the same folder and a rename: never half-written."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path, data: bytes) -> None:
    """Write bytes to `path` via a temp file in the same folder and a rename: never half-written. A file
    written again keeps its permissions, and a link keeps being a link: the file it points to is written
    (a rename would have put a plain file with the default permissions in their place)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        mode = path.stat().st_mode & 0o7777 if path.is_file() else default_mode()
    except OSError:
        mode = default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_graph(doc: GraphDocument, path) -> None:
    """Save atomically. A graph with weights saved to another folder keeps naming the same weights file."""
    path = Path(path)
    if doc.weights and doc.path and path.resolve().parent != Path(doc.path).parent:
        target = (Path(doc.path).parent / doc.weights).resolve()
        doc.weights = os.path.relpath(target, path.resolve().parent).replace(os.sep, "/")
    atomic_write_text(path, dumps_graph(doc))
    doc.path = str(path.resolve())
