"""Transfer learning with Layerloom: an ImageNet-style ResNet-18 (torchvision's architecture,
imported through `layerloom import`) first trained on the MNIST digits, then fine-tuned on the
`shapes` data set with everything frozen but the head, against the same network trained from
scratch for the same number of steps. Prints both validation accuracies side by side.

    python bench/finetune.py [--pretrain-steps 300] [--steps 150] [--device auto]

The pretrained weights are a run this script trains itself (torchvision's published weights cannot
be downloaded everywhere): the digits and the shapes are different data sets with different
classes; both are read as 1×28×28 grayscale images.
"""
import argparse
import tempfile

from layerloom.graph.importers import import_source
from layerloom.runtime.trainer import Trainer


def network():
    doc = import_source("torchvision:resnet18", (3, 28, 28), fidelity=False).doc
    doc.set_param("input", "shape", [1, 28, 28])
    doc.set_param("conv1", "in_channels", 1)
    doc.set_param("fc", "out_features", "auto")
    return doc


def train(doc, config, base):
    t = Trainer(doc, config, None, runs_base=base)
    summary = t.run()
    assert summary is not None, "training failed"
    return t.run_dir, summary


def main():
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("--pretrain-steps", type=int, default=300)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    base = tempfile.mkdtemp(prefix="finetune-")
    common = {"epochs": 1000, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "device": args.device, "seed": 0}
    pre_dir, pre = train(network(), {**common, "dataset": "mnist-sample", "max_steps": args.pretrain_steps}, base)
    print(f"pretrained on mnist-sample: {pre['steps']} steps, val accuracy {pre['val_accuracy']:.3f}")

    frozen = network()
    for bid in frozen.blocks:
        if bid != "fc":
            frozen.set_block_attr(bid, "trainable", False)
    tune = {**common, "dataset": "shapes", "max_steps": args.steps}
    _, head_only = train(frozen, {**tune, "init_from": str(pre_dir)}, base)
    _, full = train(network(), {**tune, "init_from": str(pre_dir)}, base)
    _, scratch = train(network(), tune, base)
    print(f"shapes after {args.steps} steps: frozen but the head {head_only['val_accuracy']:.3f}, "
          f"all layers from the digits' weights {full['val_accuracy']:.3f}, "
          f"from scratch {scratch['val_accuracy']:.3f}")


if __name__ == "__main__":
    main()
