"""Start-up time of the commands that need no torch: validate, status, --help.

Each command runs in a fresh interpreter (as a person or a timer runs it), alternating
between a baseline source tree and this one, so both see the same machine load; the table
gives the median wall time and the ratio. Usage:

    python -m benchmarks.cli_startup --baseline /tmp/base-tree [--runs 7] [--out FILE]

The baseline is another checkout's root (for example `git archive <commit> deepart_batch |
tar -x -C /tmp/base-tree`). Without --baseline only this tree is timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from tests.support.boxes import write_config


def _setup(tmp: Path) -> Path:
    for name in ("inbox", "outbox", "state", "styles"):
        (tmp / name).mkdir()
    (tmp / "styles" / "a.jpg").write_bytes((ROOT / "examples/styles/the_scream.jpg").read_bytes())
    (tmp / "manifest.yaml").write_text("styles:\n  a: {image: a.jpg}\nrules:\n"
                                       "  - match: '**'\n    outputs: [{style: a}]\n")
    return write_config(tmp / "config.yaml", {
        "inbox": "inbox", "outbox": "outbox", "state_dir": "state", "styles_dir": "styles",
        "manifest": "manifest.yaml"})


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time(tree: Path, argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU time barely depends on machine load."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0, c0 = time.perf_counter(), _cpu()
    subprocess.run([sys.executable, "-m", "deepart_batch.cli", *argv], env=env, cwd=tree,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0, _cpu() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", type=Path, help="root of the baseline source tree")
    ap.add_argument("--runs", type=int, default=7, help="runs per command and tree")
    ap.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _setup(Path(tmp))
        commands = {"validate": ["validate", "--config", str(cfg)],
                    "status": ["status", "--config", str(cfg)],
                    "--help": ["--help"]}
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {"baseline": args.baseline.resolve(), **trees}
        times = {(c, t): [] for c in commands for t in trees}
        for _ in range(args.runs):
            for c, argv in commands.items():
                for t, tree in trees.items():
                    times[(c, t)].append(_time(tree, argv))
    head = "| command | " + " | ".join(f"{t}: wall s, CPU s" for t in trees) + \
        (" | ratio (wall, CPU) |" if args.baseline else " |")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"CLI start-up, median of {args.runs} fresh interpreters "
             f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average at the "
             f"end {load}: other work shared the CPUs, so compare the ratio, which is "
             f"taken within this run, more than the seconds)", "", head,
             "|" + "---|" * (len(trees) + 1 + bool(args.baseline))]
    for c in commands:
        wall = {t: statistics.median(w for w, _ in times[(c, t)]) for t in trees}
        cpu = {t: statistics.median(u for _, u in times[(c, t)]) for t in trees}
        row = f"| `{c}` | " + " | ".join(f"{wall[t]:.3f}, {cpu[t]:.3f}" for t in trees)
        row += (f" | {wall['baseline'] / wall['this tree']:.1f}x, "
                f"{cpu['baseline'] / cpu['this tree']:.1f}x faster |") if args.baseline else " |"
        lines.append(row)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
