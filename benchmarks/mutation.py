"""Mutation testing of partition/: how many small changes to each module its own tests notice.

For every module of ``partition/`` named on the command line (default: all of them, values, rules
and coding first), mutmut (``pip install -e ".[dev]"``) changes the code one mutant at a time
(a ``<`` becomes ``<=``, a ``300`` becomes ``301``, a ``+`` a ``-``, ...) and runs only that
module's test file(s), ``tests/partition/test_<module>.py``. A mutant is *killed* when a test
fails; a *survivor* is a change no test notices. Each module runs in a scratch copy of the
repository, so the working tree is never touched and modules cannot mix results.

Prints one row per module (mutants, killed, survived, no test = mutants in code no test of the
module runs, timeouts, kill rate = killed / (all - skipped)), the survivors of each module with
``--show``, and writes the table as Markdown with ``--markdown FILE``.

Usage::

    python benchmarks/mutation.py [MODULE ...] [--children 2] [--show] [--markdown table.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = ("values", "rules", "coding")
"""Modules run first: the ones the issue asks 90 % for."""


def modules() -> list[str]:
    rest = sorted(p.stem for p in (ROOT / "partition").glob("*.py") if p.stem != "__init__" and p.stem not in FIRST)
    return [*FIRST, *rest]


def tests_for(module: str) -> list[str]:
    """The module's own test files: ``test_<module>.py`` and ``test_<module>_*.py``."""
    found = sorted((ROOT / "tests" / "partition").glob(f"test_{module}.py"))
    found += sorted((ROOT / "tests" / "partition").glob(f"test_{module}_*.py"))
    return [str(p.relative_to(ROOT)) for p in found]


PYPROJECT = """
[tool.mutmut]
source_paths = ["partition"]
only_mutate = ["partition/{module}.py"]
also_copy = ["geodata", "gridmap"]
pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
pytest_add_cli_args_test_selection = {tests}
use_git_change_detection = false

[tool.pytest.ini_options]
filterwarnings = ["error", "ignore::DeprecationWarning", "ignore::PendingDeprecationWarning"]
markers = ["slow: real-data or browser runs"]
"""


def run_module(module: str, *, children: int, show: bool) -> dict:
    """Mutate one module in a scratch copy of the repository; return its counts (and survivors)."""
    tests = tests_for(module)
    if not tests:
        return {"module": module, "error": "no tests/partition/test_<module>.py"}
    with tempfile.TemporaryDirectory(prefix=f"mutation-{module}-") as tmp:
        work = Path(tmp)
        for name in ("partition", "geodata", "gridmap"):
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        (work / "tests" / "partition").mkdir(parents=True)
        for name in ("__init__.py", "conftest.py", "helpers.py"):
            shutil.copy(ROOT / "tests" / name, work / "tests" / name)
        shutil.copy(ROOT / "tests" / "partition" / "__init__.py", work / "tests" / "partition" / "__init__.py")
        for t in tests:
            shutil.copy(ROOT / t, work / t)
        (work / "pyproject.toml").write_text(PYPROJECT.format(module=module, tests=json.dumps(tests)), encoding="utf-8")
        mutmut = [sys.executable, "-m", "mutmut"]
        t = time.perf_counter()
        run = subprocess.run(
            [*mutmut, "run", "--max-children", str(children)], cwd=work, capture_output=True, text=True
        )
        seconds = time.perf_counter() - t
        if run.returncode != 0:
            return {"module": module, "error": (run.stdout + run.stderr)[-2000:]}
        subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, capture_output=True, text=True, check=True)
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
        out = {"module": module, "tests": ", ".join(Path(x).name for x in tests), "seconds": round(seconds), **stats}
        if show:
            res = subprocess.run([*mutmut, "results"], cwd=work, capture_output=True, text=True)
            names = [line.split(":")[0].strip() for line in res.stdout.splitlines() if "survived" in line]
            diffs = [
                subprocess.run([*mutmut, "show", n], cwd=work, capture_output=True, text=True).stdout for n in names
            ]
            out["survivors"] = diffs
        return out


def kill_rate(row: dict) -> float:
    judged = row["total"] - row.get("skipped", 0)
    return row["killed"] / judged if judged else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="modules of partition/ [all; values, rules, coding first]")
    ap.add_argument("--children", type=int, default=2, help="mutants tested at once")
    ap.add_argument("--show", action="store_true", help="print the diff of every survivor")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = ap.parse_args()
    rows = []
    header = (
        f"{'module':14s} {'mutants':>8s} {'killed':>7s} {'survived':>9s} {'no test':>8s} {'timeout':>8s} "
        f"{'kill rate':>10s} {'s':>6s}"
    )
    print(header, flush=True)
    for module in args.modules or modules():
        row = run_module(module, children=args.children, show=args.show)
        rows.append(row)
        if "error" in row:
            print(f"{module:14s} error: {row['error']}", flush=True)
            continue
        print(
            f"{module:14s} {row['total']:8d} {row['killed']:7d} {row['survived']:9d} {row['no_tests']:8d} "
            f"{row['timeout']:8d} {kill_rate(row):10.1%} {row['seconds']:6d}",
            flush=True,
        )
        for diff in row.get("survivors", []):
            print(diff, flush=True)
    if args.markdown:
        lines = [
            "| module | test file(s) | mutants | killed | survived | no test | timeout | kill rate |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            if "error" not in r:
                lines.append(
                    f"| `partition/{r['module']}.py` | {r['tests']} | {r['total']} | {r['killed']} | {r['survived']} "
                    f"| {r['no_tests']} | {r['timeout']} | {kill_rate(r):.1%} |"
                )
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
