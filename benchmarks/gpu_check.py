"""The GPU path in one run, summarised as JSON: what `benchmarks/gpu_check.sh` executes.

    bash benchmarks/gpu_check.sh            # on a machine with one GPU: under 8 minutes
    bash benchmarks/gpu_check.sh --small    # anywhere (the test suite runs it on CPU)

Each part runs in its own process (a failure or a timeout is recorded, the rest goes on):

1. ``tests``: the device-parametrised tests (`pytest -m devices`), on CPU and CUDA;
2. ``search_speed``: seconds per ZO step against a plain supernet step, phases 1 and 2, in
   fp32 and bf16 (benchmarks/search_speed.py);
3. ``search_cost``: ZO-DARTS++'s seconds per epoch as a ratio to DARTS-2nd's
   (benchmarks/search_cost.py);
4. ``paper_search``: the whole BreastMNIST ``--preset paper`` search (50 epochs, batch 16):
   wall seconds and peak GPU memory;
5. ``retraining``: a short retraining of that genotype (seconds per epoch);
6. ``environment``: torch, CUDA and GPU names.

BreastMNIST is read from $MEDMNIST_ROOT (the device machine gets only the repository: copy
breastmnist.npz into a git-excluded folder of it, carry that folder, and point MEDMNIST_ROOT
there); without it the parts run on the embedded digits, and the summary says so. ``--small``
shrinks every part to seconds (tiny preset, digits) so the script itself is tested on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_part(name: str, command: list[str], timeout: float, env: dict) -> dict:
    """Run one part; its stdout is its JSON result (or it failed)."""
    tic = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s",
                "seconds": time.perf_counter() - tic}
    result: dict = {"ok": done.returncode == 0, "seconds": time.perf_counter() - tic}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout).strip().splitlines()[-5:]
    for text in (done.stdout, done.stdout.strip().splitlines()[-1:] or [""]):
        try:  # the whole output (an indented document), else its last line
            result.update(json.loads(text if isinstance(text, str) else text[0]))
            break
        except json.JSONDecodeError:
            continue
    else:
        if done.returncode == 0:
            result["output"] = done.stdout.strip().splitlines()[-3:]
    return result


def py(*args: str) -> list[str]:
    return [sys.executable, *args]


def inline(code: str) -> list[str]:
    return py("-c", code)


PAPER_SEARCH = """
import json, sys, time, torch
from zodarts import api
from zodarts.space import count_params
tic = time.perf_counter()
result = api.search(dataset=sys.argv[1], preset=sys.argv[2], out=sys.argv[3],
                    **json.loads(sys.argv[4]))
peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({"wall_seconds": time.perf_counter() - tic, "peak_gpu_mb": peak,
                  "epochs": len(result.history), "params": count_params(result.genotype),
                  "decided": result.history[-1].get("decided")}))
"""

RETRAINING = """
import json, sys
from zodarts.api import train
from zodarts.utils.io import read_jsonl
train(sys.argv[1], preset=sys.argv[2], epochs=int(sys.argv[3]))
log = read_jsonl(sys.argv[1] + "/train/log.jsonl")
print(json.dumps({"epochs": len(log), "sec_per_epoch": sum(r["seconds"] for r in log) / len(log),
                  "val_acc": log[-1]["val_acc"]}))
"""

ENVIRONMENT = """
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda,
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                  "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Expected cost: under 8 minutes on one GPU; --small runs in well under a minute "
               "anywhere.")
    p.add_argument("--small", action="store_true", help="seconds, not minutes (CPU, tests)")
    p.add_argument("--out", default=None, help="where runs go (None: a temporary folder)")
    args = p.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}"
                                       f"{os.environ.get('PYTHONPATH', '')}"}
    root = os.environ.get("MEDMNIST_ROOT")
    breast = bool(root) and (Path(root) / "breastmnist.npz").is_file()
    dataset = "breastmnist" if breast and not args.small else "digits"
    preset = "tiny" if args.small else "paper"
    scale = 0.2 if args.small else 1.0
    work = Path(args.out or tempfile.mkdtemp(prefix="gpu-check-"))
    search_dir = work / "paper-search"

    speed = {}
    for precision in ("fp32", "bf16"):
        speed[precision] = run_part(
            f"search_speed {precision}",
            py("benchmarks/search_speed.py", "--dataset", dataset, "--preset", preset,
               "--precision", precision, "--json", *(["--threads", "1"] if args.small else [])),
            300 * scale + 60, env)
    # --small runs one device test, enough to keep the plumbing honest (the suite runs them all).
    tests = run_part("tests", py("-m", "pytest", "-q", "-m", "devices", "tests/",
                                 "-p", "no:cacheprovider",
                                 *(["-k", "overlapped"] if args.small else [])),
                     240 * scale + 60, env)
    summary = {
        "small": args.small, "dataset": dataset, "preset": preset,
        "environment": run_part("environment", inline(ENVIRONMENT), 60, env),
        "tests": tests,
        "search_speed": speed,
        "search_cost": run_part(
            "search_cost",
            py("benchmarks/search_cost.py", "--dataset", dataset, "--preset", preset,
               "--epochs", "1" if args.small else "3", "--methods", "zo-darts++", "--json",
               "--repeats", "1" if args.small else "2",
               *(["--threads", "1"] if args.small else [])), 300 * scale + 60, env),
        "paper_search": run_part(
            "paper_search",
            [*inline(PAPER_SEARCH), dataset, preset, str(search_dir),
             json.dumps({"epochs": 1} if args.small else {})], 420 * scale + 60, env),
    }
    summary["retraining"] = (run_part("retraining",
                                      [*inline(RETRAINING), str(search_dir), preset,
                                       "1" if args.small else "3"], 240 * scale + 60, env)
                             if summary["paper_search"]["ok"] else
                             {"ok": False, "error": "no searched genotype"})
    summary["ok"] = all(part.get("ok", True) for part in
                        (summary["tests"], summary["search_cost"], summary["paper_search"],
                         summary["retraining"], *speed.values()))
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
