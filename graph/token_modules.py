"""The torch modules of the vision-transformer block kinds (graph/blocks_tokens.py): a learned class
token and learned position embeddings. Generated code carries these classes inline (compiler.py), so a
compiled graph and an exported project hold their weights like any layer's (`<block id>.token`,
`<block id>.embedding`)."""
from __future__ import annotations

import torch
from torch import nn


class ClassToken(nn.Module):
    """Puts one learned vector in front of every sequence: B×T×E → B×(T+1)×E."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """Adds a learned vector per position: B×T×E + 1×T×E."""

    def __init__(self, length: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, length, embed_dim).normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding
