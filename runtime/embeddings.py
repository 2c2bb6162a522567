"""What a trained Embedding learned: nearest words by cosine similarity, and a 2-D PCA map."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .checkpoints import load_checkpoint

SPECIAL = ("<pad>", "<unk>")


class EmbeddingError(ValueError):
    """The run has no usable embedding; the message says why."""


@dataclass
class EmbeddingTable:
    block: str
    vectors: torch.Tensor          # [V, D]
    vocabulary: list[str]          # token of each row (frequency order for Layerloom's text sets)

    def __post_init__(self):
        if not bool(torch.isfinite(self.vectors).all()):       # no neighbours and no map can come of them
            raise EmbeddingError(f"{self.block}'s vectors hold NaN or infinite values: its training diverged; "
                                 "train again with a lower learning rate")

    @classmethod
    def from_run(cls, run_dir, block: str | None = None) -> "EmbeddingTable":
        ckpt = load_checkpoint(run_dir)
        vocab = list(ckpt.meta.get("vocabulary") or [])
        keys = [k for k in ckpt.weights if k.endswith(".weight")]
        graph = ckpt.meta.get("graph", {})
        embeddings = [b["id"] for b in graph.get("blocks", []) if b.get("kind") == "Embedding"]
        if not embeddings:
            raise EmbeddingError("this run's graph has no Embedding block, so it has no word vectors: train a graph "
                                 "with one (the word2vec preset, or a text classifier) to explore its words")
        block = block or embeddings[0]
        key = f"{block}.weight"
        if key not in keys:
            raise EmbeddingError(f"{block} is not an Embedding of this run (its Embeddings: {', '.join(embeddings)})")
        vectors = ckpt.weights[key].float()
        if not vocab:
            vocab = [str(i) for i in range(vectors.shape[0])]
        return cls(block, vectors, vocab[:vectors.shape[0]])

    def index(self, word: str) -> int:
        try:
            return self.vocabulary.index(word)
        except ValueError:
            lowered = word.lower()
            if lowered in self.vocabulary:
                return self.vocabulary.index(lowered)
            raise EmbeddingError(f'"{word}" is not in the vocabulary ({len(self.vocabulary):,} words)') from None

    def nearest(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The k words whose vectors are closest in angle to `word`'s, with cosine similarities."""
        i = self.index(word)
        unit = torch.nn.functional.normalize(self.vectors, dim=1)
        sims = unit @ unit[i]
        sims[i] = -2.0
        for s in SPECIAL:
            if s in self.vocabulary:
                sims[self.vocabulary.index(s)] = -2.0
        top = torch.topk(sims, min(k, len(self.vocabulary) - 1))
        return [(self.vocabulary[int(j)], float(v)) for v, j in zip(top.values, top.indices) if v > -2]

    def pca(self, count: int = 200) -> tuple[list[str], np.ndarray]:
        """The `count` most frequent words (special tokens left out) and their 2-D PCA coordinates."""
        ids = [i for i, w in enumerate(self.vocabulary) if w not in SPECIAL][:count]
        if len(ids) < 3:
            raise EmbeddingError(f"{self.block} has {len(ids)} words besides <pad> and <unk>, and a map needs at "
                                 "least 3: train it on a text with more words")
        x = self.vectors[ids]
        x = x - x.mean(dim=0, keepdim=True)
        _, _, v = torch.linalg.svd(x, full_matrices=False)
        xy = x @ v[:2].T
        if xy.shape[1] < 2:              # one number per word: the map's second axis is 0
            xy = torch.cat([xy, torch.zeros(len(ids), 2 - xy.shape[1])], dim=1)
        return [self.vocabulary[i] for i in ids], xy.numpy()
