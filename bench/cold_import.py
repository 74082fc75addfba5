"""Cold import time of each Lambda handler module, each sample in a fresh interpreter.

The child process loads functions/<key>/handler.py by path (as kizuna.local.functions does) with the environment
its settings model reads, dummy values and fake AWS credentials; handlers build boto3 clients at import but make no
network calls. Two variants:
- "with .pyc": bytecode caches present, as on a developer machine;
- "no .pyc (as shipped)": the layers are built with `pip --no-compile` and without __pycache__, and Lambda's /opt
  is read-only, so every cold start compiles the application and dependency sources. Simulated with a
  PYTHONPYCACHEPREFIX that holds bytecode for the standard library only (the runtime ships that compiled).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from report import PYTHON, REPO_ROOT, Section, Stats, table

from kizuna.catalog import FUNCTIONS
from kizuna.settings import SETTINGS_BY_FUNCTION

NAME = "cold_import"
REPEATS = 7
TARGET_MS = 250.0
TARGETED = ("sender", "twilio_webhook")
NO_PYC_KEYS = TARGETED  # the slower variant only where there is a target, to keep the run short
TOP = 8
WATCHED = (
    "stripe",
    "twilio",
    "pydantic",
    "pydantic_core",
    "aws_lambda_powertools",
    "boto3",
    "botocore",
    "phonenumbers",
    "requests",
    "aiohttp",
)

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("kizuna_bench_fn", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["kizuna_bench_fn"] = module
spec.loader.exec_module(module)
getattr(module, sys.argv[2])
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": ms, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def handler_path(key: str) -> tuple[Path, str]:
    module_path, _, attribute = FUNCTIONS[key].handler.rpartition(".")
    return REPO_ROOT / f"{module_path}.py", attribute


def child_env(key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    env |= {name: f"https://example.invalid/bench/{name.lower()}" for name in SETTINGS_BY_FUNCTION[key].env_names()}
    env |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "kizuna",
    }
    return env | (extra or {})


def import_once(key: str, flags: tuple[str, ...] = (), extra: dict[str, str] | None = None) -> tuple[dict, str]:
    path, attribute = handler_path(key)
    result = subprocess.run(
        [sys.executable, *flags, "-c", _CHILD, str(path), attribute],
        env=child_env(key, extra),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing handler {key!r} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def stdlib_only_pycache(key: str) -> Path:
    """A pycache prefix holding bytecode for the standard library only (what the Lambda runtime ships)."""
    prefix = Path(tempfile.mkdtemp(prefix="kizuna-bench-pyc-"))
    import_once(key, extra={"PYTHONPYCACHEPREFIX": str(prefix)})
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    keep = prefix / stdlib.relative_to(stdlib.anchor)
    for path in sorted(prefix.rglob("*"), reverse=True):
        if path.is_file() and keep not in path.parents:
            path.unlink()
    return prefix


def parse_importtime(stderr: str) -> list[tuple[int, int, str, int]]:
    """(self µs, cumulative µs, module, depth) for each line of `-X importtime` output."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(self_us), int(cumulative_us), name.strip(), depth))
    return rows


def run() -> Section:
    section = Section(
        NAME,
        "Cold import of each Lambda handler",
        f"{PYTHON} bench/run.py --only {NAME}",
    )
    samples: dict[str, list[float]] = {}
    modules: dict[str, list[str]] = {}
    for key in FUNCTIONS:
        import_once(key)  # warm the OS page cache and write .pyc files; not counted
        runs = [import_once(key)[0] for _ in range(REPEATS)]
        samples[key] = [r["ms"] for r in runs]
        modules[key] = runs[-1]["modules"]

    no_pyc: dict[str, list[float]] = {}
    for key in NO_PYC_KEYS:
        prefix = stdlib_only_pycache(key)
        try:
            env = {"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}
            no_pyc[key] = [import_once(key, extra=env)[0]["ms"] for _ in range(REPEATS)]
        finally:
            shutil.rmtree(prefix, ignore_errors=True)

    rows = []
    for key in FUNCTIONS:
        target = f"≤ {TARGET_MS:.0f}" if key in TARGETED else "—"
        cold = Stats.of(no_pyc[key]).fmt() if key in no_pyc else "not measured"
        rows.append([f"`{key}`", Stats.of(samples[key]).fmt(), cold, target])
    section.body += [
        f"Import of `functions/<key>/handler.py` in a fresh `{Path(sys.executable).name}` process, timed inside the "
        f"process (interpreter start-up excluded), {REPEATS} repeats after one unmeasured warm-up. Milliseconds, "
        "median (min–max). *No .pyc* is how Lambda runs the layers as built (`--no-compile`, read-only `/opt`): "
        "application and dependency sources are compiled on every cold start; simulated with a bytecode cache "
        "prefix that holds the standard library only.",
        "",
        *table(["handler", "with .pyc (ms)", "no .pyc, as shipped (ms)", "target (ms)"], rows),
        "",
    ]

    # Where the sender's import time goes.
    _, stderr = import_once("sender", flags=("-X", "importtime"))
    lines = parse_importtime(stderr)
    by_self = sorted(lines, key=lambda r: r[0], reverse=True)[:TOP]
    by_cumulative = sorted(lines, key=lambda r: r[1], reverse=True)[:TOP]
    section.body += [
        f"Sender, `python -X importtime` (one run, with .pyc; the tracing itself adds overhead): top {TOP} modules.",
        "",
        *table(
            ["by self time", "self (ms)", "by cumulative time", "cumulative (ms)"],
            [
                [f"`{s[2]}`", f"{s[0] / 1000:.1f}", f"`{c[2]}`", f"{c[1] / 1000:.1f}"]
                for s, c in zip(by_self, by_cumulative, strict=True)
            ],
        ),
        "",
    ]
    watched_rows = []
    for package in WATCHED:
        own = [r for r in lines if r[2] == package or r[2].startswith(package + ".")]
        imported = package in modules["sender"]
        cost = f"{sum(r[0] for r in own) / 1000:.1f} ({len(own)} modules)" if imported else "—"
        watched_rows.append([f"`{package}`", "yes" if imported else "no", cost])
    section.body += [
        "Heavy packages: is each imported by the sender, and the summed self time of its modules in the run above:",
        "",
        *table(["package", "imported by the sender", "self time of its modules (ms)"], watched_rows),
    ]

    verdicts = []
    for key in TARGETED:
        warm, cold = Stats.of(samples[key]).median, Stats.of(no_pyc[key]).median
        state = "meets" if cold <= TARGET_MS else ("misses (meets only with .pyc)" if warm <= TARGET_MS else "misses")
        verdicts.append(
            f"`{key}` {state} the ≤ {TARGET_MS:.0f} ms target ({warm:.0f} ms with .pyc, {cold:.0f} ms as shipped)"
        )
    stripe = (
        "`stripe` is not imported" if "stripe" not in modules["sender"] else "**`stripe` IS imported (must not be)**"
    )
    section.verdict = "; ".join(verdicts) + f"; {stripe}. Measured on this machine, Python "
    section.verdict += f"{sys.version_info.major}.{sys.version_info.minor}; Lambda arm64 at 256–512 MB has a fraction "
    section.verdict += "of a vCPU, so expect slower cold starts there."
    return section
