"""Every test scenario before and after issue 21, as markdown (benchmarks/studies/
results/test-scenarios.md, section "Every scenario"): the node ids collected on the pre-redesign
main (benchmarks/studies/results/tests-before.txt) against today's collection, with the markers
each test now gets (tests/support/markers.py) and whether it runs a real daemon or render
process. A before id missing now is printed as LOST (none should be).

    .venv/bin/python -m benchmarks.studies.test_scenarios > /tmp/scenarios.md
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("engine", "daemon", "ray", "browser", "systemd", "gpu")
RENAMED = {   # parametrized by another issue after the before list was taken
    "tests/test_solver.py::test_budget_ends_inside_a_line_search_keeps_the_best_point":
        "tests/test_solver.py::test_budget_ends_inside_a_line_search_keeps_the_best_point[",
    "tests/test_solver.py::test_fixed_step_variant_and_zero_budget":
        "tests/test_solver.py::test_fixed_step_variant_and_zero_budget[",
}
# Test files renamed when tests/ came to mirror the package (benchmarks/results/test-tree-map.md);
# the others kept their basename, which is unique in tests/.
RENAMED_FILES = {
    "test_cli_small_truths.py": "test_cli_documented_refusals.py",
    "test_duplicates.py": "test_identical_drops.py",
    "test_approve_sources_proof.py": "test_approvals_as_source.py",
    "test_ops_bulk_truth.py": "test_bulk_pass_progress.py",
    "test_styles_page_truths.py": "test_styles_page.py",
}


def where_now(nodeid: str, now: list[str]) -> str:
    """A before node id under its test file's path today."""
    path, sep, rest = nodeid.partition("::")
    name = Path(path).name
    name = RENAMED_FILES.get(name, name)
    paths = {Path(n.partition("::")[0]).name: n.partition("::")[0] for n in now}
    return paths.get(name, path) + sep + rest


def collect(marker: str | None = None) -> list[str]:
    args = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:xdist"]
    out = subprocess.run(args + (["-m", marker] if marker else []), cwd=ROOT,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "::" in line and not line.startswith(" ")]


def main() -> None:
    before = [l.strip() for l in (ROOT / "benchmarks/studies/results/tests-before.txt").read_text()
              .splitlines() if l.strip()]
    now = collect()
    before = [where_now(nodeid, now) for nodeid in before]
    renamed = {where_now(old, now): where_now(new, now) for old, new in RENAMED.items()}
    marks = {m: set(collect(m)) for m in MARKERS}
    now_set = set(now)
    lost = []
    print("| node id | before | markers now |\n|---|---|---|")
    for nodeid in sorted(set(before) | now_set):
        if nodeid not in now_set:
            prefix = renamed.get(nodeid)
            if prefix and any(n.startswith(prefix) for n in now):
                continue                      # its parametrized ids are listed
            lost.append(nodeid)
        tags = ", ".join(m for m in MARKERS if nodeid in marks[m]) or "-"
        was = "yes" if nodeid in before or any(
            nodeid.startswith(p) for p in renamed.values()) else "new"
        print(f"| `{nodeid}` | {was} | {tags if nodeid in now_set else 'LOST'} |")
    print(f"\nBefore: {len(before)} node ids; now: {len(now)}; lost: {len(lost)}")
    for nodeid in lost:
        print(f"LOST: {nodeid}")


if __name__ == "__main__":
    main()
