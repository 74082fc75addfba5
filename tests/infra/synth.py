"""Synthesizes the Kizuna app once per process; tests/infra and tests/security/infra read the same assembly.

A plain module (not a conftest), so both directories' conftests share one cache whatever order pytest imports them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from app import create_app  # noqa: E402
from infra.stack import KizunaStack  # noqa: E402


@dataclass(frozen=True)
class Synthesized:
    app: aws_cdk.App
    stack: KizunaStack
    template: Template
    template_path: Path

    @property
    def resources(self) -> dict[str, dict]:
        return self.template.to_json()["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


@functools.cache
def synthesize(outdir: str) -> Synthesized:
    # Given the app as `cdk synth` builds it (cdk.json context, cdk-nag registered as a validation plugin)
    app, stack = create_app(outdir=outdir)
    # When it is synthesized (the dependency layer build is cached under build/layers/)
    assembly = app.synth()
    template_path = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
    return Synthesized(app, stack, Template.from_stack(stack), template_path)
