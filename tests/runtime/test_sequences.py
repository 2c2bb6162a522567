"""Recurrent networks and word embeddings: seq-mnist, text-csv, text-corpus (word2vec)."""
import random

import pytest
import torch

from layerloom.graph import analyze, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import DataError, SequenceSplit, dataset_info, load_dataset
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder


def test_seq_mnist_lstm_learns(tmp_path):
    doc = load_graph(preset_path("seq_mnist_lstm"))
    t = Trainer(doc, {"epochs": 2}, None, runs_base=tmp_path)
    assert t.run()["val_accuracy"] > 0.5            # chance is 0.1; the preset's 8 epochs reach ~0.94


def order_csv(path, n=500, seed=0):
    """Strings of five a's and five b's: the label is the first character. Every string has the
    same characters, so a bag of characters cannot tell the classes apart; the order can."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        s = list("aaaaabbbbb")
        rng.shuffle(s)
        rows.append(("".join(s), "starts-" + s[0]))
    path.write_text("text,label\n" + "\n".join(f"{t},{label}" for t, label in rows) + "\n", encoding="utf-8")
    return rows


def test_text_csv_gru_learns_a_rule_that_needs_order(tmp_path):
    rows = order_csv(tmp_path / "order.csv")
    assert len({tuple(sorted(t)) for t, _ in rows}) == 1          # identical bags of characters
    doc = load_graph(preset_path("text_gru"))
    cfg = {"epochs": 12, "batch_size": 32, "lr": 0.01,
           "dataset_options": {"path": str(tmp_path / "order.csv"), "tokenize": "char"}}
    rec = Recorder()
    t = Trainer(doc, cfg, rec, runs_base=tmp_path)
    summary = t.run()
    assert summary is not None, rec.of("failed")
    assert summary["val_accuracy"] >= 0.9
    assert t.model.emb1.num_embeddings == 4 and t.model.fc1.out_features == 2   # "auto" from the data set


def cluster_corpus(path, clusters=6, words_per=8, sentences=2500, seed=0):
    rng = random.Random(seed)
    groups = [[f"w{c}x{i}" for i in range(words_per)] for c in range(clusters)]
    text = []
    for _ in range(sentences):
        g = rng.choice(groups)
        text.append(" ".join(rng.choice(g) for _ in range(8)) + ".")
    path.write_text("\n".join(text), encoding="utf-8")
    return groups


def test_word2vec_puts_words_of_a_cluster_together(tmp_path):
    groups = cluster_corpus(tmp_path / "corpus.txt")
    doc = load_graph(preset_path("word2vec_skipgram"))
    cfg = {"epochs": 2, "batch_size": 256, "lr": 0.01,
           "dataset_options": {"path": str(tmp_path / "corpus.txt"), "window": 2, "subsample": 0, "min_count": 1}}
    rec = Recorder()
    t = Trainer(doc, cfg, rec, runs_base=tmp_path)
    assert t.run() is not None, rec.of("failed")
    vocab = t.info.vocabulary
    emb = torch.nn.functional.normalize(t.model.emb1.weight.detach(), dim=1)
    cluster_of = {w: i for i, g in enumerate(groups) for w in g}
    words = [w for w in vocab if w in cluster_of]
    assert len(words) == 48
    ids = torch.tensor([vocab.index(w) for w in words])
    sims = emb[ids] @ emb[ids].T
    sims.fill_diagonal_(-2)
    nearest = sims.argmax(dim=1)
    same = sum(cluster_of[words[i]] == cluster_of[words[int(j)]] for i, j in enumerate(nearest))
    assert same / len(words) >= 0.9


def test_text_csv_vocabulary_padding_and_bad_files(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("label\ttext\npos\tgood film !\nneg\tbad film\npos\tgood good\nneg\tawful\n", encoding="utf-8")
    b = load_dataset("text-csv", path=str(path), val_fraction=0.25)
    assert b.info.vocabulary[:2] == ("<pad>", "<unk>") and b.info.input_dtype == "int64"
    assert b.info.class_names == ("neg", "pos") and b.info.variable_length
    assert isinstance(b.train, SequenceSplit)
    x, y = b.train.batch(torch.arange(len(b.train)))
    assert x.shape[1] == int(b.train.lengths.max())             # padded to the batch's longest
    assert (x[:, -1] != 0).all()                                 # left padding: the last step is a real token
    (tmp_path / "cols.csv").write_text("sentence,y\nhi,1\nho,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="no column 'text', 'label'; its columns are 'sentence', 'y'"):
        load_dataset("text-csv", path=str(tmp_path / "cols.csv"))
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="is empty"):
        load_dataset("text-csv", path=str(tmp_path / "empty.csv"))
    (tmp_path / "latin.csv").write_bytes("text,label\ncafé,1\nthé,0\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset("text-csv", path=str(tmp_path / "latin.csv"))
    with pytest.raises(DataError, match="needs a file"):
        load_dataset("text-csv")


@pytest.mark.parametrize("name, text", [
    ("spaces.csv", "text, label\ngood film, pos\nbad film, neg\n, pos\nawful, neg\n"),
    ("semicolons.csv", "text;label\ngood film;pos\nbad film;neg\n;pos\nawful;neg\n"),
    ("tabs.txt", "text\tlabel\ngood film\tpos\nbad film\tneg\n\tpos\nawful\tneg\n"),
])
def test_text_csv_dialects_and_an_empty_text(tmp_path, name, text):
    """Spaces after the commas, semicolons (as spreadsheets write CSV in many languages) and tabs read
    alike. An empty text is one unknown token, and <unk> is in the vocabulary once: it was counted as a
    word of the text and listed twice."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    b = load_dataset("text-csv", path=str(tmp_path / name), val_fraction=0.25, seed=0)   # row 2 trains
    assert b.info.class_names == ("neg", "pos")
    vocabulary = b.info.vocabulary
    assert sorted(vocabulary) == sorted({"<pad>", "<unk>", "good", "bad", "film", "awful"} & set(vocabulary))
    assert len(set(vocabulary)) == len(vocabulary) and vocabulary[:2] == ("<pad>", "<unk>")
    x, _ = b.train.batch(torch.arange(len(b.train)))
    x_val, _ = b.val.batch(torch.arange(len(b.val)))
    rows = [[vocabulary[i] for i in row if i] for row in x.tolist() + x_val.tolist()]
    assert ["<unk>"] in rows and len(rows) == 4


def test_text_corpus_skipgram_pairs(tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat", encoding="utf-8")
    b = load_dataset("text-corpus", path=str(tmp_path / "c.txt"), window=1, subsample=0, min_count=1,
                     val_fraction=0.1)
    vocab = b.info.vocabulary
    assert vocab[0] == "the" and b.info.vocab_size == 5 and b.info.sample_shape == (1,)
    pairs = {(vocab[int(c)], vocab[int(o)]) for split in (b.train, b.val)
             for c, o in zip(split.images.view(-1), split.labels)}
    assert ("cat", "sat") in pairs and ("sat", "cat") in pairs and ("cat", "on") not in pairs
    assert len(b.train) + len(b.val) == 10


def test_data_auto_params_follow_the_data_set(tmp_path):
    doc = load_graph(preset_path("word2vec_skipgram"))
    plain = analyze(doc)
    assert plain.ok and {d.code for d in plain.infos} == {"data_auto"}
    assert plain.blocks["fc1"].output_shape == (10,)             # the stated fallback until data is known
    order_csv(tmp_path / "o.csv", n=50)
    info = dataset_info("text-csv", path=str(tmp_path / "o.csv"), tokenize="char")
    result = analyze(load_graph(preset_path("text_gru")), info.data_context())
    assert result.blocks["emb1"].params["num_embeddings"] == 4
    assert result.blocks["fc1"].output_shape == (2,) and not result.infos


def test_token_ids_beyond_the_embedding_are_a_clear_message(tmp_path):
    order_csv(tmp_path / "o.csv", n=60)
    doc = load_graph(preset_path("text_gru"))
    doc.set_param("emb1", "num_embeddings", 3)
    rec = Recorder()
    Trainer(doc, {"epochs": 1, "dataset_options": {"path": str(tmp_path / "o.csv"), "tokenize": "char"}}, rec,
            runs_base=tmp_path).run()
    msg = rec.of("failed")[0]["message"]
    assert "emb1: Embedding has num_embeddings=3 but text-csv has 4 different token ids" in msg


def test_recurrent_taps_give_the_hidden_state_over_time(tmp_path):
    from layerloom.runtime.taps import FeatureTaps
    rec = Recorder()
    doc = load_graph(preset_path("seq_mnist_lstm"))
    Trainer(doc, {"epochs": 1, "max_steps": 3}, rec, runs_base=tmp_path, taps=FeatureTaps(["lstm1"], 0.0)).run()
    maps = [e for e in rec.of("feature_maps") if e["block"] == "lstm1"]
    assert maps and maps[0]["kind"] == "sequence" and maps[0]["maps"].shape == (28, 128)


def test_embedding_views_from_a_trained_run(tmp_path):
    from layerloom.runtime.embeddings import EmbeddingError, EmbeddingTable
    groups = cluster_corpus(tmp_path / "corpus.txt", sentences=1500)
    cfg = {"epochs": 2, "batch_size": 256, "lr": 0.01,
           "dataset_options": {"path": str(tmp_path / "corpus.txt"), "subsample": 0, "min_count": 1}}
    t = Trainer(load_graph(preset_path("word2vec_skipgram")), cfg, None, runs_base=tmp_path)
    assert t.run() is not None
    table = EmbeddingTable.from_run(t.run_dir)
    assert table.block == "emb1" and len(table.vocabulary) == table.vectors.shape[0]
    word = groups[0][0]
    near = table.nearest(word, k=5)
    assert len(near) == 5 and all(-1 <= s <= 1 for _, s in near)
    assert sum(w in groups[0] for w, _ in near) >= 4
    words, xy = table.pca(30)
    assert len(words) == 30 and xy.shape == (30, 2)
    with pytest.raises(EmbeddingError, match="not in the vocabulary"):
        table.nearest("zebra")
