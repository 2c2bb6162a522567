"""`layerloom explain`: why a trained run predicts what it does for one sample, as a PNG (and JSON)."""
from __future__ import annotations

import json
import os
import sys

from .cli import can_write

# runtime.explain's METHODS and BASELINES, for the parser without loading torch (a test holds them equal)
METHODS = ("saliency", "integrated-gradients", "gradcam", "occlusion")
BASELINES = ("zeros", "blurred")
# integrated gradients' steps: the quadrature's set-up grows with their cube (measured here: 1,000 take
# 0.3 s, 2,000 take 2 s, so 10,000 would take minutes and 100,000 never end)
MAX_STEPS = 1_000


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="explain one prediction of a trained run (saliency, integrated "
                                       "gradients, Grad-CAM, occlusion) as a picture",
                       description="Explain what a trained run predicts for one validation sample or image "
                                   "file: the sample, the attribution overlaid on it and the top-5 prediction "
                                   "are written to OUT.png.", allow_abbrev=False)
    p.add_argument("run", help="a run folder, a checkpoint folder (or a .loom.json graph, untrained)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, metavar="N", help="validation sample N of the run's data set")
    which.add_argument("--image", metavar="FILE", help="an image file (resized to the model's input)")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--block", metavar="ID", help="Grad-CAM: the block to explain through (default: the last "
                                                 "one whose channels × height × width output is larger than 1×1); "
                                                 "token ids: the Embedding to attribute through. Other methods "
                                                 "ignore it, with a warning")
    p.add_argument("--target", type=int, metavar="CLASS", help="the class to explain (default: the prediction)")
    p.add_argument("--baseline", choices=BASELINES, default="zeros", help="integrated gradients: path start")
    p.add_argument("--steps", type=int, default=50,
                   help=f"integrated gradients: number of steps, 1 to {MAX_STEPS:,} (default 50)")
    p.add_argument("--window", type=int, default=4, help="occlusion: window size in pixels (default 4)")
    p.add_argument("--stride", type=int, default=2, help="occlusion: stride in pixels (default 2)")
    p.add_argument("--out", required=True, metavar="OUT.png", help="the picture to write")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_explain)


def _same_file(a, b) -> bool:
    """Whether paths `a` and `b` name one file (also through links or another spelling)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:     # one of them is not there yet
        return False


def cmd_explain(args) -> int:
    if not 1 <= args.steps <= MAX_STEPS:
        print(f"layerloom explain: --steps must be from 1 to {MAX_STEPS:,}, not {args.steps} (default 50)",
              file=sys.stderr)
        return 2
    if not str(args.out).lower().endswith(".png"):
        print("layerloom explain: --out must name a .png file", file=sys.stderr)
        return 2
    if not can_write("explain", "--out", args.out, folder=False):
        return 2
    if args.image is not None and os.path.exists(args.image) and not os.path.isfile(args.image):
        # a pipe or a device would be read forever (or wait for a writer that never comes)
        print(f"layerloom explain: --image {args.image} is not an image file (a folder, device, pipe or socket); "
              f"give a .png or .jpg file", file=sys.stderr)
        return 2
    if args.image is not None and _same_file(args.image, args.out):
        print(f"layerloom explain: --out {args.out} is the --image itself: the explanation would replace the "
              f"picture it explains; give another --out", file=sys.stderr)
        return 2
    from .explain import ExplainError, explain
    from .explain_subject import load_subject
    from .heatmaps import explanation_png
    try:
        subject = load_subject(args.run)
        if args.image is not None:
            raw, x = subject.image_file(args.image)
            label = None
        else:
            raw, x, label = subject.sample(args.sample)
        e = explain(subject.model, x, args.method, target=args.target, block=args.block,
                    class_names=subject.class_names, baseline=args.baseline, steps=args.steps,
                    window=(args.window, args.window), stride=(args.stride, args.stride))
        tokens = subject.words(x) if e.kind == "sequence" else None
        explanation_png(raw[0].numpy() if raw.is_floating_point() else x[0].numpy(), e, args.out,
                        subject.class_names, label=label, tokens=tokens)
    except ExplainError as exc:
        print(f"layerloom explain: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"layerloom explain: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for w in subject.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if e.details.get("warning"):            # --block given to a method that does not use it
        print(f"warning: --block: {e.details['warning']}", file=sys.stderr)
    if args.json:
        out = e.to_json()
        out.update(out=str(args.out), sample=args.sample, image=args.image, label=label)
        print(json.dumps(out))
    else:
        top = e.prediction[0]
        line = f"{args.out}: {e.method}, predicted {top['name']} ({top['probability'] * 100:.1f}%)"
        if e.completeness_gap is not None:
            line += f", completeness gap {e.completeness_gap * 100:.2f}%"
        print(line)
    return 0
