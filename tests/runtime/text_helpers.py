"""A small two-class text CSV and a tiny Embedding → GRU → Linear graph on it, quick to train."""
import random

from layerloom.graph import GraphDocument


def texts_csv(path, n=120, words=60):
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(n):
        half = (i % 2) * words // 2
        lines.append(" ".join(f"w{rng.randrange(half, half + words // 2)}" for _ in range(8)) + f",{'ab'[i % 2]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def text_net(csv, max_size):
    doc = GraphDocument("text")
    ids = [doc.add_block("Input", {"shape": [8], "dtype": "int64"}),
           doc.add_block("Embedding", {"num_embeddings": "auto", "embedding_dim": 4, "padding_idx": 0}),
           doc.add_block("GRU", {"hidden_size": 4, "output": "last"}), doc.add_block("Linear", {"out_features": "auto"}),
           doc.add_block("Output")]
    for a, b in zip(ids, ids[1:]):
        doc.connect(a, b)
    doc.training.update({"dataset": "text-csv", "epochs": 1, "batch_size": 16,
                         "dataset_options": {"path": csv, "max_size": max_size, "max_length": 8}})
    return doc
