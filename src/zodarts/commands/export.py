"""`zodarts export`: the trained network as TorchScript or ONNX."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="export the trained model (TorchScript or ONNX)",
                       description="Export the best checkpoint of a run folder. The model takes "
                       "float images in [0, 1], shape (N, C, H, W), and returns logits (the "
                       "normalisation is inside); a .json beside it describes the input and holds "
                       "the preprocessing record `zodarts predict` reads (size, channels, "
                       "normalisation, task, class names). An ensemble folder (RUN_DIR/ensemble) "
                       "exports as one model: the log of its members' mean probability. The "
                       "export is checked against PyTorch on a test batch.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder, or an ensemble's folder")
    p.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript",
                   help="default torchscript; onnx needs `pip install 'zodarts[onnx]'`")
    p.add_argument("--out", metavar="FILE",
                   help="output file (default RUN_DIR/export/model.pt or model.onnx)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.export import export_model

    print(f"exported: {export_model(args.run_dir, args.format, args.out)}")
    return 0
