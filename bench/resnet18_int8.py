"""ResNet-18 (the preset's network) trained on `shapes`, exported as onnx-int8-static.

The preset's network reads 3×64×64 shapes (4,000 training and 1,000 validation images) and trains with
SGD at lr 0.005 for 4 epochs: the preset's own lr (0.05) diverges on this little data (validation loss
36, chance accuracy), and agreement between fp32 and int8 means little for a network that has not
learnt (near-equal logits). Prints the validation accuracy, then the fp32 and int8 files, the
int8/fp32 size ratio and the top-1 agreement on the validation split.
Run: .venv/bin/python bench/resnet18_int8.py [EPOCHS]        (default 4; about 25 s per epoch on 2 quiet cores)
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.export import export_model
from layerloom.runtime.trainer import Trainer

SETTINGS = {"dataset": "shapes", "dataset_options": {"train_count": 4000, "val_count": 1000},
            "optimizer": "sgd", "lr": 0.005, "momentum": 0.9, "weight_decay": 0.0001, "batch_size": 32,
            "epochs": 4}


def shapes_resnet18():
    doc = load_graph(preset_path("resnet18"))
    doc.set_param("input", "shape", [3, 64, 64])
    return doc


def main(epochs: int = 4) -> None:
    with tempfile.TemporaryDirectory(prefix="layerloom-resnet-int8-") as work:
        work = Path(work)
        t0 = time.perf_counter()
        trainer = Trainer(shapes_resnet18(), {**SETTINGS, "epochs": epochs}, None, runs_base=work)
        summary = trainer.run()
        print(f"trained {epochs} epoch(s) in {time.perf_counter() - t0:.0f} s: "
              f"val accuracy {summary['val_accuracy'] * 100:.2f} %")
        _, (fp32, static) = export_model(trainer.run_dir, ["onnx", "onnx-int8-static"], work / "out")
        print(fp32.line())
        print(static.line())
        r = static.report
        print(f"int8 / fp32 file size: {static.size / fp32.size * 100:.1f} %; top-1 agreement "
              f"{r['top1_agreement'] * 100:.2f} % on {r['samples']:,} validation samples; accuracy "
              f"{r['fp32_accuracy'] * 100:.2f} % fp32 -> {r['int8_accuracy'] * 100:.2f} % int8")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
