"""Regenerate presets/*.loom.json from the architecture definitions below.

Run: .venv/bin/python tools/make_presets.py
Each preset is built with the document API (so ids are the editor's), laid out by graph.layout,
checked by analysis and written with the normal saver.
"""
from __future__ import annotations

import sys
from pathlib import Path

from layerloom.graph import GraphDocument, analyze, save_graph
from layerloom.graph.layout import apply_layout, auto_layout

PRESETS = Path(__file__).resolve().parent.parent / "presets"


class Builder:
    def __init__(self, name, description, training, shape, dtype=None):
        self.doc = GraphDocument(name, description, training)
        params = {"shape": shape}
        if dtype:
            params["dtype"] = dtype
        self.last = self.doc.add_block("Input", params)

    def add(self, kind, src=None, block_id=None, **params):
        bid = self.doc.add_block(kind, params, block_id=block_id)
        self.doc.connect(src or self.last, bid)
        self.last = bid
        return bid

    def merge(self, kind, sources, **params):
        bid = self.doc.add_block(kind, params)
        for port, s in enumerate(sources):
            self.doc.connect(s, bid, dst_port=port)
        self.last = bid
        return bid

    def finish(self):
        self.add("Output")
        apply_layout(self.doc, auto_layout(self.doc))
        return self.doc


def lenet5():
    b = Builder("LeNet-5", "The common modern variant of LeCun et al.'s digit recogniser (1998): two convolution "
                "+ max-pooling stages, then three fully connected layers, with ReLU. It reads 28×28 digits with "
                "padding 2 (the paper pads them to a 32×32 input), connects C3 to all six maps (the paper's table "
                "connects each of its 16 maps to 3-6 of them), pools without trainable weights and ends in a "
                "Linear layer instead of the paper's fixed RBF units: 61,706 parameters against the paper's "
                "60,000 trainable (+900 in C3, -44 in pooling, +850 in the output).",
                {"dataset": "mnist-sample", "optimizer": "adam", "lr": 0.003, "batch_size": 64, "epochs": 5},
                [1, 28, 28])
    b.add("Conv2d", out_channels=6, kernel_size=5, padding=2)
    b.add("ReLU"); b.add("MaxPool2d", kernel_size=2)
    b.add("Conv2d", out_channels=16, kernel_size=5)
    b.add("ReLU"); b.add("MaxPool2d", kernel_size=2)
    b.add("Flatten")
    b.add("Linear", out_features=120); b.add("ReLU")
    b.add("Linear", out_features=84); b.add("ReLU")
    b.add("Linear", out_features=10)
    return b.finish()


def mlp():
    b = Builder("MLP 784-128-10", "The simplest image classifier: flatten the pixels, one hidden layer of 128 "
                "units, ten outputs.",
                {"dataset": "mnist-sample", "optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": 5},
                [1, 28, 28])
    b.add("Flatten"); b.add("Linear", out_features=128); b.add("ReLU"); b.add("Linear", out_features=10)
    return b.finish()


def alexnet(classes=10):
    b = Builder("AlexNet", "torchvision's AlexNet: the single-tower variant from Krizhevsky's \"One weird trick\" "
                "(2014), not the two-GPU network of the 2012 ImageNet paper (grouped convolutions, 96-256-384-384-"
                "256 channels, local response normalisation). Five convolutions with max pooling, adaptive average "
                "pooling to 6×6, then a dropout-regularised classifier; 10 outputs here (at 1000 classes and "
                "224×224: 61.1 M parameters, 0.71 G MACs, as torchvision publishes).",
                {"dataset": "shapes", "optimizer": "adam", "lr": 0.0003, "batch_size": 32,
                 "epochs": 6, "dataset_options": {"train_count": 1200, "val_count": 300}},
                [3, 224, 224])
    b.add("Conv2d", out_channels=64, kernel_size=11, stride=4, padding=2); b.add("ReLU")
    b.add("MaxPool2d", kernel_size=3, stride=2)
    b.add("Conv2d", out_channels=192, kernel_size=5, padding=2); b.add("ReLU")
    b.add("MaxPool2d", kernel_size=3, stride=2)
    b.add("Conv2d", out_channels=384, kernel_size=3, padding=1); b.add("ReLU")
    b.add("Conv2d", out_channels=256, kernel_size=3, padding=1); b.add("ReLU")
    b.add("Conv2d", out_channels=256, kernel_size=3, padding=1); b.add("ReLU")
    b.add("MaxPool2d", kernel_size=3, stride=2)
    b.add("AdaptiveAvgPool2d", output_size=6)
    b.add("Flatten")
    b.add("Dropout", p=0.5); b.add("Linear", out_features=4096); b.add("ReLU")
    b.add("Dropout", p=0.5); b.add("Linear", out_features=4096); b.add("ReLU")
    b.add("Linear", out_features=classes)
    return b.finish()


def vgg11(classes=10):
    b = Builder("VGG-11", "Simonyan & Zisserman's VGG configuration A (2014), as in torchvision (without batch "
                "normalisation): stacks of 3×3 convolutions between max pools, then a large classifier; 10 outputs "
                "here (at 1000 classes and 224×224: 132.9 M parameters, 7.61 G MACs, as torchvision publishes).",
                {"dataset": "shapes", "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 16,
                 "epochs": 2, "dataset_options": {"train_count": 600, "val_count": 150}},
                [3, 224, 224])
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            b.add("MaxPool2d", kernel_size=2, stride=2)
        else:
            b.add("Conv2d", out_channels=v, kernel_size=3, padding=1); b.add("ReLU")
    b.add("AdaptiveAvgPool2d", output_size=7)
    b.add("Flatten")
    b.add("Linear", out_features=4096); b.add("ReLU"); b.add("Dropout", p=0.5)
    b.add("Linear", out_features=4096); b.add("ReLU"); b.add("Dropout", p=0.5)
    b.add("Linear", out_features=classes)
    return b.finish()


def resnet18(classes=10):
    b = Builder("ResNet-18", "He et al.'s residual network (2015), as in torchvision: four stages of two basic "
                "blocks whose Add skip connections let gradients flow through 18 layers; 10 outputs here (at 1000 "
                "classes and 224×224: 11.7 M parameters, 1.81 G MACs, as torchvision publishes and the paper's "
                "1.8 × 10⁹ FLOPs count them).",
                {"dataset": "shapes", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001,
                 "batch_size": 32, "epochs": 3, "dataset_options": {"train_count": 1200, "val_count": 300}},
                [3, 224, 224])
    b.add("Conv2d", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)
    b.add("BatchNorm2d"); b.add("ReLU")
    b.add("MaxPool2d", kernel_size=3, stride=2, padding=1)
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            s = stride if i == 0 else 1
            entry = b.last
            b.add("Conv2d", out_channels=width, kernel_size=3, stride=s, padding=1, bias=False)
            b.add("BatchNorm2d"); b.add("ReLU")
            b.add("Conv2d", out_channels=width, kernel_size=3, padding=1, bias=False)
            main = b.add("BatchNorm2d")
            skip = entry
            if s != 1:
                b.add("Conv2d", src=entry, out_channels=width, kernel_size=1, stride=s, bias=False)
                skip = b.add("BatchNorm2d")
            b.merge("Add", [main, skip])
            b.add("ReLU")
    b.add("AdaptiveAvgPool2d", output_size=1)
    b.add("Flatten")
    b.add("Linear", out_features=classes)
    return b.finish()


def shufflenet_v2_x0_5(classes=10):
    b = Builder("ShuffleNet V2 ×0.5", "Ma et al.'s ShuffleNet V2 (2018) at half width, as in torchvision: each unit "
                "splits its channels in two (Narrow), convolves one half with cheap 1×1 and depthwise 3×3 layers, "
                "joins the halves (Concat) and shuffles the channels so the next unit mixes them; units that halve "
                "the image convolve both copies instead. 10 outputs here (at 1000 classes and 224×224: 1.37 M "
                "parameters and 40 M MACs: the 0.04 G torchvision publishes).",
                {"dataset": "shapes", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.00004,
                 "batch_size": 32, "epochs": 3, "dataset_options": {"train_count": 1200, "val_count": 300}},
                [3, 224, 224])

    def conv(src, width, kernel=1, stride=1, depthwise=False, relu=True):
        b.add("Conv2d", src=src, out_channels=width, kernel_size=kernel, stride=stride, padding=kernel // 2,
              groups=width if depthwise else 1, bias=False)
        b.add("BatchNorm2d")
        return b.add("ReLU") if relu else b.last

    def branch(src, width, stride):      # 1×1, depthwise 3×3, 1×1: torchvision's branch2
        conv(src, width)
        conv(b.last, width, 3, stride, depthwise=True, relu=False)
        return conv(b.last, width)

    conv(b.last, 24, 3, 2)
    b.add("MaxPool2d", kernel_size=3, stride=2, padding=1)
    channels = 24
    for width, repeats in ((48, 4), (96, 8), (192, 4)):
        half = width // 2
        for i in range(repeats):
            entry = b.last
            if i == 0:                   # halves the image: both branches read the whole input
                conv(entry, channels, 3, 2, depthwise=True, relu=False)
                left = conv(b.last, half)
                right = branch(entry, half, 2)
            else:                        # x.chunk(2, dim=1): the first half passes, the second is convolved
                left = b.add("Narrow", src=entry, dim=1, start=0, length=half)
                b.add("Narrow", src=entry, dim=1, start=half, length=half)
                right = branch(b.last, half, 1)
            b.merge("Concat", [left, right], dim=1)
            b.add("ChannelShuffle", groups=2)
        channels = width
    conv(b.last, 1024)
    b.add("AdaptiveAvgPool2d", output_size=1)
    b.add("Flatten")
    b.add("Linear", out_features=classes)
    return b.finish()


def seq_mnist_lstm():
    b = Builder("Sequential MNIST LSTM", "Reads each digit row by row (28 steps of 28 pixels) with an LSTM and "
                "classifies it from the last hidden state.",
                {"dataset": "seq-mnist", "optimizer": "adam", "lr": 0.002, "batch_size": 64, "epochs": 8},
                [28, 28])
    b.add("LSTM", hidden_size=128, output="last")
    b.add("Linear", out_features=10)
    return b.finish()


def rnn_classifier():
    b = Builder("Sequential MNIST RNN", "The plain recurrent version of the row-by-row digit reader: a tanh RNN "
                "carries a hidden state across the 28 rows.",
                {"dataset": "seq-mnist", "optimizer": "adam", "lr": 0.001, "batch_size": 64, "epochs": 10,
                 "grad_clip": 1.0},
                [28, 28])
    b.add("RNN", hidden_size=128, output="last")
    b.add("Linear", out_features=10)
    return b.finish()


def text_gru():
    b = Builder("Text GRU classifier", "Embeds each token, reads the text with a GRU and classifies it from the "
                "last step. Train it on your own CSV (a text column and a label column).",
                {"dataset": "text-csv", "optimizer": "adam", "lr": 0.003, "batch_size": 32, "epochs": 10,
                 "dataset_options": {"tokenize": "word"}},
                [200], dtype="int64")
    b.add("Embedding", num_embeddings="auto", embedding_dim=64, padding_idx=0)
    b.add("GRU", hidden_size=64, output="last")
    b.add("Linear", out_features="auto")
    return b.finish()


def word2vec_skipgram():
    b = Builder("word2vec skip-gram", "Mikolov et al.'s skip-gram: from a word's embedding, predict the words "
                "around it. Words used in the same contexts end up with similar vectors.",
                {"dataset": "text-corpus", "optimizer": "adam", "lr": 0.01, "batch_size": 256, "epochs": 5,
                 "dataset_options": {"window": 2}},
                [1], dtype="int64")
    b.add("Embedding", num_embeddings="auto", embedding_dim=50)
    b.add("Flatten")
    b.add("Linear", out_features="auto")
    return b.finish()


ALL = {"lenet5": lenet5, "mlp": mlp, "alexnet": alexnet, "vgg11": vgg11, "resnet18": resnet18,
       "shufflenet_v2_x0_5": shufflenet_v2_x0_5,
       "seq_mnist_lstm": seq_mnist_lstm, "rnn_classifier": rnn_classifier, "text_gru": text_gru,
       "word2vec_skipgram": word2vec_skipgram}


def main(names=None):
    for name in names or ALL:
        doc = ALL[name]()
        result = analyze(doc)
        if result.errors:
            sys.exit(f"{name}: " + "; ".join(d.text for d in result.errors))
        save_graph(doc, PRESETS / f"{name}.loom.json")
        print(f"{name}: {len(doc.blocks)} blocks, {result.total_params:,} parameters")


if __name__ == "__main__":
    main(sys.argv[1:])
