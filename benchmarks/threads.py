"""How a search slows down when it shares the CPU with other busy processes.

    python benchmarks/threads.py [--dataset NAME] [--preset P] [--arch-steps N | --epochs E]
        [--busy 0,1,2] [--threads N] [--json]

Runs the same search (`zodarts search`, in a fresh interpreter, as a user runs it) alone and
beside 1, 2, ... busy processes (each a Python loop that keeps one core busy), and prints its
seconds (the search loop's own: imports and start-up excluded) and the ratio to the search
alone. A search that has lost half the cores should take about twice as long; torch's default
OpenMP threads, which spin while they wait, took `make demo`'s search from 45 s to 16.7 min
beside one busy job (utils/threads.py). Ratios only: the machine's other load is in the output
(load average before each run) and slows every condition alike.

Expected cost: the default (quick preset, 8 α steps on digits) takes a few seconds alone on two
idle cores, so a minute or two in all; the test suite runs it at the tiny preset.
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

BUSY_LOOP = "while True: pass"


def search_seconds(args: argparse.Namespace, out: Path) -> dict:
    """One search in its own interpreter; its loop seconds and the threads it ran with."""
    command = [sys.executable, "-m", "zodarts.cli", "search", "--dataset", args.dataset,
               "--preset", args.preset, "--out", str(out), "--quiet", "--seed", "0"]
    command += ["--epochs", str(args.epochs)] if args.epochs else \
        ["--arch-steps", str(args.arch_steps)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    proc = subprocess.run(command, capture_output=True, text=True, env=_worker_env())
    if proc.returncode != 0:
        raise SystemExit(f"threads.py: the search failed: {proc.stderr.strip()[-500:]}")
    log = [json.loads(line) for line in (out / "search/log.jsonl").read_text().splitlines()]
    environment = json.loads((out / "environment.json").read_text())
    return {"seconds": sum(r["seconds"] for r in log), "epochs": len(log),
            "threads": environment.get("threads"),
            "omp_wait_policy": environment.get("omp_wait_policy")}


def _worker_env() -> dict:
    """The caller's environment, minus the thread settings the test suite pins, so the search
    takes zodarts's own defaults unless --threads is given."""
    env = dict(os.environ)
    if os.environ.get("THREADS_BENCH_KEEP_OMP") != "1":
        env.pop("OMP_NUM_THREADS", None)
    return env


def run_beside(busy: int, args: argparse.Namespace) -> dict:
    """The search beside ``busy`` busy processes (started first, stopped after)."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
    try:
        time.sleep(0.5 if busy else 0.0)   # let them take their cores
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            result = search_seconds(args, Path(tmp) / "run")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return {"busy": busy, "load_before": round(load, 2), **result}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits", help="(default: digits)")
    p.add_argument("--preset", default="quick", help="(default: quick)")
    p.add_argument("--arch-steps", type=int, default=8, help="search length in α steps "
                   "(default: 8)")
    p.add_argument("--epochs", type=int, help="search length in epochs instead (default: "
                   "unset, --arch-steps gives the length)")
    p.add_argument("--busy", default="0,1,2", help="busy processes beside the search, one "
                   "condition each; 0, alone, is always run first (default: 0,1,2)")
    p.add_argument("--threads", type=int, help="the search's --threads (default: unset, "
                   "zodarts chooses)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (default: "
                   "a table)")
    args = p.parse_args()
    counts = sorted({0, *(int(b) for b in args.busy.split(","))})
    rows = [run_beside(busy, args) for busy in counts]
    alone = rows[0]["seconds"]
    for row in rows:
        row["ratio_to_alone"] = row["seconds"] / alone
    report = {"dataset": args.dataset, "preset": args.preset, "cpus": os.cpu_count(),
              "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else None, "runs": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"search on {args.dataset} ({args.preset}), {report['affinity']} CPUs available; "
          "seconds of the search loop")
    print(f"{'beside':>13} {'threads':>7} {'wait policy':>11} {'load':>5} {'seconds':>8} "
          f"{'ratio':>6}")
    for r in rows:
        print(f"{r['busy']:>2} busy proc. {r['threads']:>7} {str(r['omp_wait_policy']):>11} "
              f"{r['load_before']:>5.2f} {r['seconds']:>8.1f} {r['ratio_to_alone']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
