#!/usr/bin/env python3
"""CDK app: the Kizuna stack, checked by cdk-nag's AWS Solutions rules on every synth."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, DeployConfig
from infra.stack import KizunaStack

CDK_JSON = Path(__file__).resolve().with_name("cdk.json")


def create_app(outdir: str | None = None) -> tuple[cdk.App, KizunaStack]:
    # cdk.json's feature flags also apply when the app is built in-process (tests) rather than by the CDK CLI;
    # under the CLI, its own context is applied on top of these.
    app = cdk.App(context=json.loads(CDK_JSON.read_text())["context"], outdir=outdir)
    # Per-environment settings (`-c env=prod`, kizuna:* keys): validated before anything is built (docs/deploy.md).
    config = DeployConfig.from_context(app.node.get_all_context(), os.environ)
    stack = KizunaStack(
        app,
        config.stack_name,
        description="Kizuna: self-hosted, Pinpoint-compatible customer engagement",
        keep_retired_indexes=config.keep_retired_indexes,
    )
    config.apply(stack, alarm_topic=stack.node.find_child("Observability").topic)
    # cdk-nag v3 is a policy validation plugin: findings fail the synth unless acknowledged with a reason.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


if __name__ == "__main__":
    try:
        app, _ = create_app()
    except ConfigError as exc:
        sys.exit(f"Kizuna configuration (CDK context): {exc}")
    app.synth()
