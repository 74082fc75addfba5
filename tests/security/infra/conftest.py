"""The infra security tests read the same synthesized app as tests/infra: one synth per process, shared."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk", reason="needs the infra extra")
from tests.infra.synth import Synthesized, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(str(tmp_path_factory.getbasetemp() / "cdk.out"))
