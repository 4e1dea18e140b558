"""`zodarts predict`: class probabilities of new images, as a CSV."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="classify new images with a trained run, ensemble or export (CSV)",
        description="Classify images with a trained model: a run folder (its best checkpoint), "
        "an ensemble folder (RUN_DIR/ensemble: the mean of its members' probabilities) or a "
        "file of `zodarts export` (model.pt or model.onnx, with the model.*.json beside it). "
        "Images are fed exactly as in training: converted to the model's channels (RGB and "
        "grey convert into each other, with a note) and resized to its image size (with a "
        "note). The CSV has one row per image: file, index (the row of an .npz; empty for an "
        "image file), prediction (the class name; multi-label: the labels with p > 0.5, "
        "joined by ';'), then p_NAME, the probability of each class or label.")
    p.add_argument("model", metavar="RUN_OR_EXPORT",
                   help="run folder, ensemble folder, or exported model.pt / model.onnx")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (.png, .jpg, ...), folders of them (searched "
                        "recursively, in sorted order), or .npz files in the MedMNIST layout")
    p.add_argument("--out", metavar="FILE.csv",
                   help="write the CSV here (atomically: no partial file on an error); "
                        "default: print it")
    p.add_argument("--split", choices=["train", "val", "test"], default="test",
                   help="which split of an .npz input to predict (default test)")
    p.add_argument("--batch-size", type=int,
                   help="images per forward pass (default 256)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda; "
                   "an ONNX model runs on the CPU")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.commands.common import show_progress
    from zodarts.predict.core import predict_inputs

    result = predict_inputs(args.model, args.inputs, args.out, args.split, args.batch_size,
                            args.device, show_progress(args))
    if result.out is None:
        sys.stdout.write(result.csv_text())
    else:
        print(f"predicted {len(result)} image{'s' if len(result) != 1 else ''}: {result.out}",
              file=sys.stderr)
    return 0
