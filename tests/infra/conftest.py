"""Synthesizes the Kizuna app once per test session; every infra test reads the same assembly (tests/infra/synth.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk", reason="needs the infra extra")
from tests.infra.synth import Synthesized, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(str(tmp_path_factory.getbasetemp() / "cdk.out"))
