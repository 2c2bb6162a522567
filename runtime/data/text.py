"""Text classification from a CSV/TSV file: tokenise, build a vocabulary, pad per batch.

Options: path (the file), text_column ("text"), label_column ("label"), tokenize ("word" or
"char"), min_count (1), max_size (20,000 tokens including <pad> and <unk>), max_length (200
tokens; longer texts keep their first tokens), val_fraction (0.2). The vocabulary is built from
the training split only. Id 0 is <pad>, id 1 is <unk>. Rows with an empty label are left out (the
description counts them); a quote that never closes, or a label column with fewer than two rows per
label (an id or text column chosen by mistake), is refused with the line or the counts.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import torch

from layerloom.graph.quoting import shown

from .base import DataBundle, DataError, DatasetInfo, SequenceSplit
from .options import fraction_option, path_option, text_option, whole_option

NAME = "text-csv"
PAD, UNK = "<pad>", "<unk>"
OPTIONS = ("path", "text_column", "label_column", "tokenize", "min_count", "max_size", "max_length",
           "val_fraction")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CACHE: dict = {}


def tokenize(text: str, mode: str) -> list[str]:
    if mode == "char":
        return list(text)
    return _WORD.findall(text.lower())


def build_vocabulary(token_lists, min_count: int = 1, max_size: int = 20_000, specials=(PAD, UNK)) -> list[str]:
    counts = Counter(t for tokens in token_lists for t in tokens if t not in specials)   # an empty text is [UNK]
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return list(specials) + ranked[:max(0, max_size - len(specials))]


def read_text_file(path) -> str:
    if path is None:
        raise DataError("This data set needs a file: choose one in the data settings (option path).")
    path = Path(path)
    if not is_file(path):
        raise DataError(f"{shown(str(path), 300)} does not exist or is not a file: choose an existing text "
                        "file.")
    try:
        raw = path.read_bytes()
    except OSError as exc:          # unreadable (permission denied), or gone since
        raise DataError(f"{shown(str(path), 300)} cannot be read ({shown(exc.strerror or str(exc))}): make it "
                        "readable or choose another file.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{shown(path.name)} is not UTF-8 text: save it as UTF-8 (most editors offer this "
                        "under Save As → Encoding) and choose it again.") from None


def is_file(path) -> bool:
    """Whether `path` is a file; False for a name the system cannot look up (too long, say)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


_END_CHECK = "layerloom-end-of-file-check"


def _line_start(text: str, line: int) -> int:
    """Where 1-based line `line` begins in `text` (lines end with \\n, as csv reads them from a StringIO)."""
    pos = 0
    for _ in range(line - 1):
        pos = text.index("\n", pos) + 1
    return pos


def _unclosed_quote(text: str, first_line: int, last_line: int, delimiter: str, name: str) -> None:
    """Refuse the file when the record read from `first_line` to the end runs on because a quote never closes:
    csv then reads every line after it as one field and says nothing, so the rows in it are lost."""
    if last_line <= first_line:
        return
    tail = text[_line_start(text, first_line):]
    try:     # an unclosed quote swallows a line added after the end too; a closed one does not
        records = list(csv.reader(io.StringIO(tail + "\n" + _END_CHECK + "\n"), delimiter=delimiter,
                                  skipinitialspace=True))
        record = next((r for r in csv.reader(io.StringIO(tail), delimiter=delimiter, skipinitialspace=True) if r), [])
    except csv.Error:
        return
    if not records or records[-1] == [_END_CHECK] or not record:
        return
    field = record[-1]          # the field the quote opened runs to the end of the file: it is the last one
    opening = last_line - field.count("\n") + (1 if field.endswith("\n") else 0)
    after = last_line - opening
    lines = "the line after it is" if after == 1 else f"the {after:,} lines after it are"
    raise DataError(f"{name}: line {opening:,} opens a quote (\") that never closes, so {lines} read into that "
                    "field instead of as rows: close the quote or remove it, then choose the file again.")


def _read_rows(path, text_column: str, label_column: str):
    text = read_text_file(path)
    name = shown(Path(path).name)
    if not text.strip():
        raise DataError(f"{name} is empty: it needs a header line and at least one row per class.")
    first = text.splitlines()[0]
    delimiter = "\t" if str(path).lower().endswith(".tsv") else max((",", "\t", ";"), key=first.count)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)   # "text, label"
    try:
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise DataError(f"{name} cannot be read: its header line is not CSV ({exc}).") from None
    _unclosed_quote(text, 1, reader.line_num, delimiter, name)
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        raise DataError(f"{name} has no column {', '.join(repr(m) for m in missing)}; its columns "
                        f"are {', '.join(repr(c) for c in columns)}. Set text_column and label_column to match.")
    if text_column == label_column:
        raise DataError(f"text_column and label_column both name the column {text_column!r}: the labels must come "
                        "from a column of their own. Set label_column to it.")
    twice = [c for c in (text_column, label_column) if columns.count(c) > 1]
    if twice:      # csv would read the last of them and say nothing
        raise DataError(f"{name} has {columns.count(twice[0])} columns named {twice[0]!r}: "
                        "rename all but one in its header line, so that it is clear which one to read.")
    rows, last_start = [], reader.line_num + 1       # the line the last record began on (or blank lines before it)
    try:
        while True:
            begins = reader.line_num + 1
            r = next(reader, None)
            if r is None:
                break
            last_start = begins
            rows.append((r[text_column] or "", (r[label_column] or "").strip()))
    except csv.Error as exc:   # e.g. a field over csv's limit of 131,072 characters
        raise DataError(f"{name} cannot be read at line {reader.line_num}: {exc}. A text field may "
                        f"hold at most {csv.field_size_limit():,} characters: split or shorten it.") from None
    if rows:
        _unclosed_quote(text, last_start, reader.line_num, delimiter, name)
    labelled = [r for r in rows if r[1] != ""]
    unlabelled = len(rows) - len(labelled)
    if len(labelled) < 2:
        empty = f" ({unlabelled:,} of its {len(rows):,} rows have an empty {label_column!r})" if unlabelled else ""
        raise DataError(f"{name} has fewer than 2 labelled rows{empty}: add more data.")
    return labelled, unlabelled


# A label column with fewer than two rows per label on average cannot train a classifier: a label needs a row to
# learn from and one to check on, so most labels would be in only one of the two splits. An id, a text or a date
# column chosen as the label looks like this. Up to FEW_LABELS labels pass, for quick tries on a handful of rows.
FEW_LABELS = 20


def _check_label_count(classes, rows: int, label_column: str, name: str) -> None:
    if len(classes) > max(FEW_LABELS, rows / 2):
        raise DataError(f"{name}: {label_column!r} has {len(classes):,} different values in {rows:,} rows, fewer "
                        f"than 2 rows per label: is label_column right? Set it to the column that holds the classes "
                        "(each label needs several rows), or merge the rare labels.")


def _prepare(path=None, text_column="text", label_column="label", tokenize_mode="word", min_count=1,
             max_size=20_000, max_length=200, val_fraction=0.2, seed=0):
    if not isinstance(tokenize_mode, str) or tokenize_mode not in ("word", "char"):
        raise DataError(f'tokenize={tokenize_mode!r:.40} does not fit: give "word" or "char".')
    key = (str(path), Path(path).stat().st_mtime_ns if path and is_file(path) else 0, text_column,
           label_column, tokenize_mode, min_count, max_size, max_length, val_fraction, seed)
    hit = _CACHE.get(key)      # one lookup: another thread may clear the cache between two
    if hit is not None:
        return hit
    rows, unlabelled = _read_rows(path, text_column, label_column)
    classes = sorted({label for _, label in rows})
    if len(classes) < 2:
        raise DataError(f"{shown(Path(path).name)} has only one label ({classes[0]!r}): a classifier needs at "
                        "least two.")
    _check_label_count(classes, len(rows), label_column, shown(Path(path).name))
    tokens = [tokenize(t, tokenize_mode)[:int(max_length)] or [UNK] for t, _ in rows]
    number = {label: i for i, label in enumerate(classes)}
    labels = torch.tensor([number[label] for _, label in rows])
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(int(seed)))
    n_val = max(1, int(round(len(rows) * float(val_fraction))))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if len(train_idx) == 0:
        raise DataError("val_fraction leaves no rows for training: lower it.")
    vocab = build_vocabulary([tokens[i] for i in train_idx.tolist()], int(min_count), int(max_size))
    index = {t: i for i, t in enumerate(vocab)}

    def split(idx):
        seqs = [[index.get(t, 1) for t in tokens[i]] for i in idx.tolist()]
        lengths = torch.tensor([len(s) for s in seqs])
        x = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)
        for row, s in enumerate(seqs):
            x[row, x.shape[1] - len(s):] = torch.tensor(s)
        return SequenceSplit(x, lengths, labels[idx])

    result = (classes, vocab, split(train_idx), split(val_idx), int(max(len(t) for t in tokens)), unlabelled)
    _CACHE.clear()
    _CACHE[key] = result
    return result


def _args(options):
    return dict(path=path_option(options), text_column=text_option(options, "text_column", "text"),
                label_column=text_option(options, "label_column", "label"),
                tokenize_mode=options.get("tokenize", "word"),
                min_count=whole_option(options, "min_count", 1, 1, 10**9),
                max_size=whole_option(options, "max_size", 20_000, 3, 10**7),
                max_length=whole_option(options, "max_length", 200, 1, 10**6),
                val_fraction=fraction_option(options, "val_fraction", 0.2), seed=options.get("seed", 0))


def info(*, input_shape=None, **options) -> DatasetInfo:
    if options.get("path") is None:
        return DatasetInfo(NAME, "Text from a CSV/TSV file", "Your own texts with a label column: a vocabulary "
                           "is built from the training rows; pick the file in the data settings.",
                           (200,), "int64", 2, ("0", "1"), (), (), False, vocab_size=0, variable_length=True)
    return _info_from(_prepare(**_args(options)), options, input_shape)


def _info_from(prepared, options, input_shape) -> DatasetInfo:
    classes, vocab, train, val, longest, unlabelled = prepared
    length = input_shape[0] if input_shape else min(longest, whole_option(options, "max_length", 200, 1, 10**6))
    left_out = (f" {unlabelled:,} rows with an empty {options.get('label_column', 'label')!r} were left out."
                if unlabelled else "")
    return DatasetInfo(NAME, f"Text from {Path(options['path']).name}",
                       f"{len(train) + len(val):,} texts, {len(classes)} labels, a vocabulary of {len(vocab):,} "
                       f"{options.get('tokenize', 'word')} tokens.{left_out}", (int(length),), "int64", len(classes),
                       tuple(classes), (), (), False, vocab_size=len(vocab), variable_length=True,
                       vocabulary=tuple(vocab))


def load(info_: DatasetInfo, *, seed: int = 0, input_shape=None, **options) -> DataBundle:
    if options.get("path") is None:
        raise DataError("text-csv needs a file: choose a CSV or TSV with a text column and a label column "
                        "(option path).")
    prepared = _prepare(**_args({**options, "seed": seed}))
    return DataBundle(_info_from(prepared, options, input_shape), prepared[2], prepared[3])
