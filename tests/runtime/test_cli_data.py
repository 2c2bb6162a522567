"""`layerloom train --dataset/--data/--data-option`, no prefix matching, and summary/check filling
data-driven "auto" values from the graph's data set."""
import json
import re

import pytest

from layerloom.app.main import main
from layerloom.presets import preset_path
from layerloom.runtime import cli
from layerloom.runtime.config import TrainConfig
from layerloom.runtime.data_choice import graph_data_context

LENET = str(preset_path("lenet5"))
ALEXNET = str(preset_path("alexnet"))


def error_of(argv, capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err.strip()


@pytest.mark.parametrize("dataset", ["image-folder", "text-csv", "text-corpus"])
def test_a_missing_path_names_the_flag(dataset, capsys):
    assert error_of(["train", LENET, "--dataset", dataset], capsys) == \
        f"layerloom train: {dataset} reads your own files: give their path with --data PATH"


def test_data_messages_word_for_word(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert error_of(["train", LENET, "--dataset", "image-folder", "--data", missing], capsys) == \
        f"layerloom train: --data {missing}: there is no such file or folder"
    assert error_of(["train", LENET, "--data", str(tmp_path)], capsys) == \
        "layerloom train: --data is for the data sets read from your files (image-folder, text-csv, text-corpus); " \
        "mnist-sample reads none"
    assert error_of(["train", LENET, "--data-option", "val_fraction"], capsys) == \
        "layerloom train: --data-option needs KEY=VALUE (for example --data-option val_fraction=0.2), " \
        "not 'val_fraction'"
    assert error_of(["train", ALEXNET, "--data-option", "trian_count=5"], capsys) == \
        "layerloom train: --data-option trian_count: shapes has no option trian_count; it takes size, channels, " \
        "train_count, val_count"
    assert error_of(["train", LENET, "--dataset", "nope"], capsys).startswith(
        "layerloom train: There is no data set called 'nope': pick one of mnist-sample, ")


@pytest.mark.parametrize("graph, option, told", [
    (LENET, "train_count=-5", "train_count=-5 does not fit: give a whole number from 10 to 4,000 (default 4,000)."),
    (LENET, "train_count=abc", "train_count='abc' does not fit: give a whole number from 10 to 4,000"),
    (ALEXNET, "val_count=x", "val_count='x' does not fit: give a whole number from 1 to 10,000,000"),
    (ALEXNET, "size=3", "shapes cannot be drawn at 3×3: use a side between 8 and 1024 pixels."),
])
def test_an_option_value_out_of_range_is_a_usage_error_before_any_work(graph, option, told, tmp_path, capsys):
    """Exit 2 with the flag's command named, like an unknown option; it was exit 1 and "Training failed"
    once the data had been loaded, and a run folder was made for nothing."""
    out = tmp_path / "runs"
    assert error_of(["train", graph, "--data-option", option, "--out", str(out)], capsys).startswith(
        f"layerloom train: {told}")
    assert not out.exists()


def test_no_parser_matches_prefixes(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["train", LENET, "--data", "somewhere"])
    assert (args.data, args.dataset) == ("somewhere", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", LENET, "--datas", "shapes"])   # once silently --dataset
    assert "unrecognized arguments: --datas shapes" in capsys.readouterr().err
    subparsers = [a for a in parser._actions if a.dest == "command"][0].choices
    assert set(cli.COMMANDS) <= set(subparsers)
    assert not parser.allow_abbrev and not any(p.allow_abbrev for p in subparsers.values())


def test_another_dataset_starts_from_its_defaults():
    training = json.loads(open(ALEXNET).read())["training"]
    assert training["dataset"] == "shapes" and training["dataset_options"]
    assert TrainConfig.from_sources(training, {"dataset": "cifar10"}).dataset_options == {}
    assert TrainConfig.from_sources(training, {"dataset": "shapes"}).dataset_options == training["dataset_options"]
    assert TrainConfig.from_sources(training, {"epochs": 1}).dataset_options == training["dataset_options"]


def test_data_options_and_path_reach_the_run(tmp_path, capsys):
    rows = ["text,label"] + [f"{w} good fine day {i},pos" for i, w in enumerate(["nice"] * 20)] + \
        [f"{w} bad awful day {i},neg" for i, w in enumerate(["poor"] * 20)]
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    argv = ["train", str(preset_path("text_gru")), "--data", str(csv_file), "--data-option", "val_fraction=0.25",
            "--data-option", "tokenize=char", "--epochs", "1", "--max-steps", "1", "--quiet", "--out",
            str(tmp_path / "runs")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Training on text-csv (30 train / 10 val)" in out
    assert ", 1 epoch of 1 step" in out and "after 1 epoch, 1 step," in out
    run = next((tmp_path / "runs").iterdir())
    options = json.loads((run / "config.json").read_text())["dataset_options"]
    assert options == {"tokenize": "char", "val_fraction": 0.25, "path": str(csv_file.resolve())}


def test_check_and_summary_follow_the_graphs_data_set(tmp_path, capsys):
    words = "the quick brown fox jumps over the lazy dog while a cat sleeps on the warm mat".split()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(words[i % len(words)] for i in range(3000)) + "\n")
    graph = json.loads(preset_path("word2vec_skipgram").read_text())
    graph["training"]["dataset_options"]["path"] = str(corpus)
    path = tmp_path / "w2v.loom.json"
    path.write_text(json.dumps(graph))
    context, name = graph_data_context(__import__("layerloom.graph", fromlist=["load_graph"]).load_graph(path))
    assert name == "text-corpus" and context["vocab_size"] == len(set(words))
    assert main(["check", str(path)]) == 0
    checked = int(re.search(r"OK \(5 blocks, ([\d,]+) parameters\)", capsys.readouterr().out)[1].replace(",", ""))
    assert main(["train", str(path), "--epochs", "1", "--max-steps", "1", "--quiet", "--out", str(tmp_path)]) == 0
    trained = int(re.search(r", ([\d,]+) parameters,", capsys.readouterr().out)[1].replace(",", ""))
    assert checked == trained
    assert main(["summary", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == trained
