"""Builds the two Lambda layers without Docker.

- domain layer: the `kizuna` package copied from layers/kizuna into <build>/python/kizuna.
- dependency layer: the runtime dependencies from pyproject.toml (minus boto3/botocore, which the Lambda runtime
  ships) installed from manylinux aarch64 wheels with `pip install --platform ... --only-binary=:all:`.

Each layer is built into a folder named after a hash of its inputs (the package's files, or the dependency list and
target runtime), so a repeated synth, or the infra tests, reuse the folder instead of reinstalling, and two
processes building at once never see a half-written folder (build in a temporary folder, then rename).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build" / "layers"
DOMAIN_SOURCE = REPO_ROOT / "layers" / "kizuna"
FUNCTIONS_DIR = REPO_ROOT / "functions"

# Lambda's limit is 250 MB unzipped for the function code plus all its layers.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# The runtime ships these; bundling them would only add ~25 MB and pin an SDK the runtime already updates.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
PLATFORM = "manylinux2014_aarch64"
# Pure-Python runtime dependencies published as sdists only: built into py3-none-any wheels first (any platform).
SDIST_ONLY = frozenset({"pybars4", "pymeta3"})
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache")


def runtime_dependencies(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """[project].dependencies minus what the Lambda runtime already provides."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [req for req in project["dependencies"] if _requirement_name(req) not in PROVIDED_BY_RUNTIME]


def build_domain_layer() -> Path:
    """Returns the layer root (the folder holding python/kizuna)."""
    digest = hashlib.sha256()
    for path in sorted(_package_files(DOMAIN_SOURCE)):
        digest.update(str(path.relative_to(DOMAIN_SOURCE)).encode())
        digest.update(path.read_bytes())
    return _build_once("domain", digest.hexdigest()[:16], _copy_domain_package)


def build_dependency_layer(python_version: str) -> Path:
    """Returns the layer root (the folder holding python/<site-packages>)."""
    requirements = runtime_dependencies()
    key = "\n".join([PLATFORM, python_version, *sorted(requirements)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return _build_once("deps", digest, lambda target: _pip_install(target, requirements, python_version))


def unzipped_size(*roots: Path) -> int:
    return sum(p.stat().st_size for root in roots for p in root.rglob("*") if p.is_file())


def _build_once(kind: str, digest: str, build) -> Path:
    final = BUILD_DIR / kind / digest
    if (final / ".complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=final.parent))
    try:
        build(staging)
        (staging / ".complete").write_text(digest)
        try:
            os.rename(staging, final)
        except OSError:
            # Another process finished the same build first; its result is identical.
            if not (final / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(final)
    return final


def _prune(keep: Path) -> None:
    """Removes older builds of the same layer so build/ does not grow with every change."""
    for sibling in keep.parent.iterdir():
        if sibling != keep and not sibling.name.startswith("."):
            shutil.rmtree(sibling, ignore_errors=True)


def _copy_domain_package(target: Path) -> None:
    shutil.copytree(DOMAIN_SOURCE, target / "python" / "kizuna", ignore=_IGNORED)


def _pip_install(target: Path, requirements: list[str], python_version: str) -> None:
    site = target / "python"
    wheels = target / "wheels"
    _build_pure_wheels(wheels, [r for r in requirements if _requirement_name(r) in SDIST_ONLY])
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile", "--no-input",
        "--platform", PLATFORM,
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        "--find-links", str(wheels),
        "--target", str(site),
        *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building the dependency layer failed:\n{result.stdout}\n{result.stderr}")
    # A transitive dependency may still pull the SDK in; the runtime's copy wins anyway.
    for name in PROVIDED_BY_RUNTIME:
        for path in site.glob(f"{name}*"):
            shutil.rmtree(path, ignore_errors=True)
    # Console scripts are of no use in a layer, nor are the wheels it was built from.
    shutil.rmtree(site / "bin", ignore_errors=True)
    shutil.rmtree(wheels, ignore_errors=True)
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _build_pure_wheels(wheels: Path, requirements: list[str]) -> None:
    wheels.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return
    command = [
        sys.executable, "-m", "pip", "wheel",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-deps",
        "--wheel-dir", str(wheels),
        *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building pure-Python wheels failed:\n{result.stdout}\n{result.stderr}")
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.endswith("-py3-none-any.whl"):
            raise RuntimeError(f"{wheel.name} is not a pure-Python wheel; it cannot go into an arm64 layer as built")


def _package_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}:
            yield path


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()
