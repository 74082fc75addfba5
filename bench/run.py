"""Kizuna's benchmark runner: runs the benchmark modules in bench/ and rewrites docs/benchmarks.md.

.venv/bin/python bench/run.py                    # every benchmark
.venv/bin/python bench/run.py --only send_path   # one benchmark; the other sections of the doc are kept
.venv/bin/python bench/run.py --with-test-time   # also time `make test`
.venv/bin/python bench/run.py --only soak --runs 3 --messages 5000   # the soak with faults, three runs
.venv/bin/python bench/run.py --only load_api    # the load run on the local API (locust; needs the bench extra)
.venv/bin/python bench/run.py --only cost        # the cost model from the figures recorded in docs/benchmarks.json

Sections' figures go to docs/benchmarks.json (merged like the doc's sections); `cost` runs last and prices the
figures measured in the same run, or the recorded ones of benchmarks not rerun.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from report import PYTHON, REPO_ROOT, Section, write, write_figures  # noqa: E402

BENCHMARKS = [
    "cold_import",
    "package_size",
    "send_path",
    "send_rate",
    "import_rate",
    "segment_eval",
    "campaign_dispatch",
    "journey_transitions",
    "journey_local_time",
    "consultations",
    "analytics_ingest",
    "erasure",
    "demo_time",
    "soak",
    "load_api",
    "cost",  # last: it prices the figures the others measured
]
DOC = REPO_ROOT / "docs" / "benchmarks.md"


def make_test_time() -> Section:
    started = time.monotonic()
    result = subprocess.run(["make", "test"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    summary = next((ln for ln in reversed(result.stdout.splitlines()) if ln.strip()), "(no output)")
    section = Section("make_test", "`make test` wall time", f"{PYTHON} bench/run.py --only none --with-test-time")
    section.body = [
        f"One run of `make test` (includes setup steps that are already done on this machine): "
        f"{seconds:.1f} s, exit code {result.returncode}.",
        "",
        f"pytest summary: `{summary.strip()}`",
    ]
    outcome = "passed" if result.returncode == 0 else f"FAILED (exit code {result.returncode})"
    section.verdict = f"{seconds:.0f} s for one full run, {outcome}; no target is set, recorded to track the trend."
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=[*BENCHMARKS, "none"], help="run just this benchmark ('none': no benchmark)")
    parser.add_argument("--with-test-time", action="store_true", help="also run and time `make test`")
    parser.add_argument("--runs", type=int, help="soak: consecutive runs (default 3)")
    parser.add_argument("--jobs", type=int, help="soak: runs at a time, each in its own process (default: cores)")
    parser.add_argument(
        "--messages",
        type=int,
        help="soak: messages per run (default 20,000); load_api: SMS whose callbacks are posted (default 400)",
    )
    args = parser.parse_args(argv)
    given_options = (("runs", args.runs), ("messages", args.messages), ("jobs", args.jobs))
    options = {k: v for k, v in given_options if v is not None}

    names = [args.only] if args.only in BENCHMARKS else [] if args.only == "none" else BENCHMARKS
    sections = []
    for name in names:
        started = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        run = importlib.import_module(name).run
        takes = inspect.signature(run).parameters  # --runs / --messages / --jobs reach the benchmarks that take them
        given = options | {"measured": {s.name: s for s in sections}}  # cost reads this run's figures
        sections.append(run(**{k: v for k, v in given.items() if k in takes}))
        print(f"[bench] {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    if args.with_test_time:
        print("[bench] make test ...", file=sys.stderr, flush=True)
        sections.append(make_test_time())
    write(DOC, sections, [*BENCHMARKS, "make_test"])
    write_figures(DOC, sections)
    for section in sections:
        print(f"{section.title}: {section.verdict}")
    print(f"wrote {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
