"""Skip-gram pairs from a plain UTF-8 text file, for word2vec.

Each (centre word, context word) pair within `window` words becomes one sample: the input is
the centre word's id (shape [1]), the label the context word's id. Frequent words are subsampled
as in word2vec (keep probability sqrt(t/f) + t/f, with t = `subsample`, 0 to switch it off).
Options: path, window (2), min_count (2), max_size (10,000), subsample (1e-3), max_pairs (400,000),
val_fraction (0.05).
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import torch

from layerloom.graph.quoting import shown

from .base import DataBundle, DataError, DatasetInfo, InMemorySplit
from .options import fraction_option, number_option, path_option, whole_option
from .text import is_file, read_text_file, tokenize

NAME = "text-corpus"
OPTIONS = ("path", "window", "min_count", "max_size", "subsample", "max_pairs", "val_fraction")
_CACHE: dict = {}


def _vocabulary(path, min_count, max_size):
    words = tokenize(read_text_file(path), "word")
    if not words:
        raise DataError(f"{shown(Path(path).name)} holds no words: choose a text file with sentences in it.")
    counts = Counter(words)
    vocab = sorted((w for w, c in counts.items() if c >= int(min_count)), key=lambda w: (-counts[w], w))
    vocab = vocab[:int(max_size)]
    if len(vocab) < 2:
        raise DataError(f"{shown(Path(path).name)} has fewer than 2 words that occur at least {min_count} times: "
                        "lower min_count or use a longer text.")
    return words, counts, vocab


def info(*, input_shape=None, **options) -> DatasetInfo:
    if options.get("path") is None:
        return DatasetInfo(NAME, "Word pairs from a text file (word2vec)", "Skip-gram (centre, context) pairs "
                           "from a UTF-8 text file; pick the file in the data settings.", (1,), "int64", 2,
                           ("?", "?"), (), (), False, vocab_size=0)
    window = _settings(options)[0]      # every option checked before any work, as `layerloom train` asks it up front
    _, _, vocab = _cached_vocab(options)
    return DatasetInfo(NAME, f"Word pairs from {Path(options['path']).name}",
                       f"Skip-gram pairs over a vocabulary of {len(vocab):,} words (window "
                       f"{window}).", (1,), "int64", len(vocab), tuple(vocab), (), (), False,
                       vocab_size=len(vocab), vocabulary=tuple(vocab))


def _settings(options) -> tuple[int, int, float, float]:
    """(window, max_pairs, subsample, val_fraction), each checked against its range."""
    return (whole_option(options, "window", 2, 1, 20), whole_option(options, "max_pairs", 400_000, 2, 10**9),
            number_option(options, "subsample", 1e-3, 0.0, 1.0), fraction_option(options, "val_fraction", 0.05))


def _cached_vocab(options):
    path = path_option(options)
    min_count = whole_option(options, "min_count", 2, 1, 10**9)
    max_size = whole_option(options, "max_size", 10_000, 2, 10**7)
    key = (str(path), Path(path).stat().st_mtime_ns if is_file(path) else 0, min_count, max_size)
    vocab = _CACHE.get(key)    # one lookup and a local result: another thread may clear the cache meanwhile
    if vocab is None:
        vocab = _vocabulary(path, min_count, max_size)
        _CACHE.clear()
        _CACHE[key] = vocab
    return vocab


def skipgram_pairs(ids: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    centres, contexts = [], []
    n = len(ids)
    for offset in range(1, window + 1):
        if offset >= n:
            break
        centres += [ids[:-offset], ids[offset:]]
        contexts += [ids[offset:], ids[:-offset]]
    return torch.cat(centres), torch.cat(contexts)


def load(info_: DatasetInfo, *, seed: int = 0, **options) -> DataBundle:
    if options.get("path") is None:
        raise DataError("text-corpus needs a text file: choose one in the data settings (option path).")
    window, max_pairs, t, val_fraction = _settings(options)
    words, counts, vocab = _cached_vocab(options)
    index = {w: i for i, w in enumerate(vocab)}
    g = torch.Generator().manual_seed(int(seed))
    total = sum(counts.values())
    kept = []
    for w in words:
        i = index.get(w)
        if i is None:
            continue
        if t > 0:
            f = counts[w] / total
            keep = min(1.0, math.sqrt(t / f) + t / f)
            if keep < 1.0 and float(torch.rand(1, generator=g)) > keep:
                continue
        kept.append(i)
    if len(kept) < 2:
        raise DataError("after dropping rare and subsampled words fewer than 2 words are left: lower min_count "
                        "or subsample, or use a longer text.")
    centre, context = skipgram_pairs(torch.tensor(kept), window)
    order = torch.randperm(len(centre), generator=g)[:max_pairs]
    centre, context = centre[order], context[order]
    n_val = max(1, int(len(centre) * val_fraction))
    x = centre.view(-1, 1)
    return DataBundle(info_, InMemorySplit(x[n_val:], context[n_val:]), InMemorySplit(x[:n_val], context[:n_val]))
