"""Wall time of the demo (`make demo` minus set-up): local mode start, 200 endpoints, sends, receipts, stop."""

from __future__ import annotations

import subprocess
import time

from report import PYTHON, REPO_ROOT, Section

KIZUNA = REPO_ROOT / ".venv" / "bin" / "kizuna"


def run() -> Section:
    started = time.monotonic()
    result = subprocess.run([str(KIZUNA), "demo"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    summary = [ln for ln in result.stdout.splitlines() if ln.startswith(("endpoints:", "  "))]
    section = Section("demo_time", "Demo wall time", f"{PYTHON} bench/run.py --only demo_time")
    section.body = [
        f"`kizuna demo` (what `make demo` runs once set up): {seconds:.1f} s wall, exit code {result.returncode}.",
        "",
        "```",
        *summary,
        "```",
    ]
    outcome = "completed" if result.returncode == 0 else f"FAILED (exit code {result.returncode})"
    section.verdict = f"{seconds:.0f} s, {outcome}; no target, recorded to track the trend."
    return section
