"""The 2-D map of an Embedding's words: numpy's own principal components, two coordinates per word always."""
import numpy as np
import pytest
import torch

from layerloom.runtime.embeddings import EmbeddingTable


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_the_map_is_the_first_two_principal_components(dim):
    torch.manual_seed(dim)
    words = ["<pad>", "<unk>"] + [f"w{i}" for i in range(12)]
    table = EmbeddingTable("emb1", torch.randn(len(words), dim), words)
    shown, xy = table.pca(200)
    assert shown == words[2:] and xy.shape == (12, 2)
    x = table.vectors[2:].double().numpy()
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    reference = np.zeros((12, 2))
    reference[:, :min(2, dim)] = (u * s)[:, :2]
    signs = np.sign((xy * reference).sum(axis=0))          # a component's sign is arbitrary
    signs[signs == 0] = 1
    np.testing.assert_allclose(xy * signs, reference, atol=1e-5)



def test_vectors_that_went_nan_are_refused_with_words_not_a_linear_algebra_error():
    from layerloom.runtime.embeddings import EmbeddingError
    vectors = torch.randn(6, 3)
    vectors[4] = float("nan")                                 # as a diverged run leaves them
    with pytest.raises(torch.linalg.LinAlgError):             # what the map would have run into
        torch.linalg.svd(vectors - vectors.mean(dim=0), full_matrices=False)
    with pytest.raises(EmbeddingError, match="emb1's vectors hold NaN or infinite values: its training diverged"):
        EmbeddingTable("emb1", vectors, [f"w{i}" for i in range(6)])


def test_what_cannot_be_mapped_says_what_to_do():
    from layerloom.runtime.embeddings import EmbeddingError
    table = EmbeddingTable("emb1", torch.randn(4, 3), ["<pad>", "<unk>", "cat", "dog"])
    with pytest.raises(EmbeddingError, match="^emb1 has 2 words besides <pad> and <unk>, and a map needs at least 3: "
                                             "train it on a text with more words$"):
        table.pca()


def test_a_run_without_an_embedding_says_which_graphs_have_one(trained_lenet):
    from layerloom.runtime.embeddings import EmbeddingError
    with pytest.raises(EmbeddingError, match="no Embedding block, so it has no word vectors: train a graph with one "
                                             r"\(the word2vec preset, or a text classifier\)"):
        EmbeddingTable.from_run(trained_lenet)
