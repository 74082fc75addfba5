"""Unzipped size of what a Kizuna function deploys: the code asset (functions/) plus the two layers that
infra/build.py builds (it caches them under build/layers/; the first dependency-layer build downloads wheels)."""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

from report import PYTHON, REPO_ROOT, Section, mb, table

sys.path.insert(0, str(REPO_ROOT))
from infra import build  # noqa: E402

NAME = "package_size"
TOP = 10


def runtime_python_version() -> str:
    """The Lambda runtime's Python version, read from infra/functions.py without starting the CDK (jsii)."""
    source = (REPO_ROOT / "infra" / "functions.py").read_text()
    match = re.search(r"^RUNTIME = lambda_\.Runtime\.PYTHON_(\d+)_(\d+)\b", source, re.MULTILINE)
    if match is None:
        raise RuntimeError("could not find `RUNTIME = lambda_.Runtime.PYTHON_x_y` in infra/functions.py")
    return f"{match.group(1)}.{match.group(2)}"


def code_asset_size(root: Path) -> int:
    """functions/ as CDK packages it (infra/functions.py excludes **/__pycache__ and **/*.pyc)."""
    return sum(
        p.stat().st_size for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def distribution_sizes(site: Path) -> list[tuple[str, int]]:
    sizes = []
    for dist in distributions(path=[str(site)]):
        total = 0
        for file in dist.files or []:
            path = Path(dist.locate_file(file))
            if path.is_file():
                total += path.stat().st_size
        sizes.append((f"{dist.metadata['Name']} {dist.version}", total))
    return sorted(sizes, key=lambda item: item[1], reverse=True)


def run() -> Section:
    section = Section(NAME, "Deployment package size (unzipped)", f"{PYTHON} bench/run.py --only {NAME}")
    python_version = runtime_python_version()
    domain = build.build_domain_layer()
    deps = build.build_dependency_layer(python_version)
    parts = [
        ("code asset (`functions/`)", code_asset_size(build.FUNCTIONS_DIR)),
        ("domain layer (`kizuna`)", build.unzipped_size(domain)),
        (f"dependency layer ({build.PLATFORM}, Python {python_version})", build.unzipped_size(deps)),
    ]
    total = sum(size for _, size in parts)
    limit = build.MAX_UNZIPPED_BYTES
    rows = [[name, mb(size), f"{100 * size / limit:.1f}%"] for name, size in parts]
    rows.append(["**total per function**", f"**{mb(total)}**", f"**{100 * total / limit:.1f}%**"])
    section.body += [
        "Built by `infra/build.build_domain_layer()` and `build_dependency_layer()` (cached in `build/layers/`); "
        "every function deploys the same code asset and both layers. MB = MiB; the limit is Lambda's "
        f"{mb(limit)} MB unzipped for function code plus all its layers.",
        "",
        *table(["part", "MB", "of the limit"], rows),
        "",
        f"Largest distributions in the dependency layer (top {TOP}, files listed in each wheel's RECORD):",
        "",
        *table(["distribution", "MB"], [[name, mb(size)] for name, size in distribution_sizes(deps / "python")[:TOP]]),
    ]
    headroom = limit - total
    section.verdict = (
        f"{mb(total)} MB of {mb(limit)} MB: {mb(headroom)} MB ({100 * headroom / limit:.0f}%) headroom under the "
        "Lambda unzipped limit."
    )
    return section
