"""Deploy-time configuration, read from CDK context and validated before anything is synthesized.

Context comes from cdk.json's "context" and from `-c key=value` on the command line (which wins):

  env=<name>              selects kizuna:environments.<name>, one environment's settings (kept in cdk.json)
  kizuna:environments     {"<name>": {"stackName": ..., "account": ..., "region": ..., "alarmEmails": [...],
                          "tags": {...}}}
  kizuna:stackName, kizuna:account, kizuna:region, kizuna:alarmEmails, kizuna:tags
                          the same settings one by one; each overrides the selected environment's
  kizuna:keepRetiredIndexes=true
                          the first of an upgrade's two deploys when a GSI is replaced (docs/deploy.md)

Any other key under "kizuna:" fails the synth naming it, so a typo is never silently ignored.

The template stays environment-agnostic (cdk-nag's acknowledgements name ARNs with the AWS::Region and
AWS::AccountId pseudo parameters): `account` and `region` do not bind the stack, they make the synth refuse
credentials or a region other than the environment's (the CLI tells the app which it uses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from aws_cdk import Stack, Tags
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

PREFIX = "kizuna:"
ENV_KEY = "env"
ENVIRONMENTS_KEY = f"{PREFIX}environments"
DEFAULT_STACK_NAME = "Kizuna"
# What the CDK CLI tells the app about the credentials and region it deploys with.
CLI_ACCOUNT_VAR = "CDK_DEFAULT_ACCOUNT"
CLI_REGION_VAR = "CDK_DEFAULT_REGION"

_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


class ConfigError(ValueError):
    """A context value `cdk synth` cannot deploy; the message names the context key."""


def _listed(value: Any) -> Any:
    # `-c kizuna:alarmEmails=a@example.com,b@example.com` arrives as one string.
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _object(value: Any) -> Any:
    # `-c 'kizuna:tags={"cost-center":"crm"}'` arrives as JSON text.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON object: {exc.msg}") from exc
    return value


def _emails(addresses: tuple[str, ...]) -> tuple[str, ...]:
    bad = [a for a in addresses if not _EMAIL.fullmatch(a)]
    if bad:
        raise ValueError(f"not an e-mail address: {', '.join(bad)}")
    if len(set(addresses)) != len(addresses):
        raise ValueError("an address is listed twice")
    return addresses


def _tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r} must be 1-128 characters and not start with 'aws:'")
        if len(value) > 256:
            raise ValueError(f"tag {key!r}: values have at most 256 characters")
    return tags


class DeployConfig(BaseModel):
    """The settings of one deployment. Field aliases are the context keys without "kizuna:"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str | None = Field(None, exclude=True)  # the `env` it was selected by, if any
    # The stack name is the deployment's identity: every resource belongs to it, and the secrets
    # (<stack>/twilio), the campaign schedule group (<stack>-campaigns, at most 64 characters) and the Athena
    # workgroup are named after it. Changing it deploys a second, empty Kizuna instead of renaming this one.
    stack_name: str = Field(DEFAULT_STACK_NAME, alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]*$", max_length=54)
    account: str | None = Field(None, pattern=r"^\d{12}$")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    # Each address gets an e-mail subscription to the alarm topic (AWS asks it to confirm once).
    alarm_emails: Annotated[tuple[str, ...], BeforeValidator(_listed), AfterValidator(_emails)] = Field(
        (), alias="alarmEmails"
    )
    # Tags on every resource of the stack (cost allocation, ownership); changing them never replaces anything.
    tags: Annotated[dict[str, str], BeforeValidator(_object), AfterValidator(_tags)] = {}
    # An upgrade that replaces a GSI needs two deploys (CloudFormation creates or deletes one GSI per update): the
    # first with this on keeps the indexes the new ones replace (catalog.Table.retired_indexes), the second drops them.
    keep_retired_indexes: bool = Field(False, alias="keepRetiredIndexes")

    @classmethod
    def from_context(cls, context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> DeployConfig:
        """The configuration `context` (all CDK context) describes; ConfigError names the key that is wrong."""
        known = {f"{PREFIX}{f.alias or name}" for name, f in cls.model_fields.items() if name != "environment"}
        unknown = sorted(k for k in context if k.startswith(PREFIX) and k not in known | {ENVIRONMENTS_KEY})
        if unknown:
            raise ConfigError(
                f"unknown context key {', '.join(unknown)}; Kizuna reads {', '.join(sorted(known))}, "
                f"{ENVIRONMENTS_KEY} and {ENV_KEY} (see docs/deploy.md)"
            )
        values: dict[str, Any] = {}
        source: dict[str, str] = {}  # setting → the context key it came from, for error messages
        environment = context.get(ENV_KEY)
        if environment is not None:
            if not isinstance(environment, str):
                raise ConfigError(f"{ENV_KEY}: must be an environment name (got {environment!r})")
            environments = context.get(ENVIRONMENTS_KEY) or {}
            if not isinstance(environments, dict):
                raise ConfigError(f"{ENVIRONMENTS_KEY}: must be an object of environments by name")
            if environment not in environments:
                defined = ", ".join(sorted(environments)) or "none"
                raise ConfigError(f"{ENV_KEY}={environment}: no such environment in {ENVIRONMENTS_KEY} ({defined})")
            block = environments[environment]
            if not isinstance(block, dict):
                raise ConfigError(f"{ENVIRONMENTS_KEY}.{environment}: must be an object of settings")
            values.update(block)
            source.update({k: f"{ENVIRONMENTS_KEY}.{environment}.{k}" for k in block})
        for key, value in context.items():
            if key in known:
                name = key.removeprefix(PREFIX)
                values[name] = value
                source[name] = key
        try:
            config = cls.model_validate({**values, "environment": environment})
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(error, source) for error in exc.errors())) from None
        config.check_cli(environ or {})
        return config

    def check_cli(self, environ: Mapping[str, str]) -> None:
        """Refuse to synthesize this environment for other credentials or another region than its own."""
        named = f" (env={self.environment})" if self.environment else ""
        for setting, variable, expected in (("account", CLI_ACCOUNT_VAR, self.account),
                                            ("region", CLI_REGION_VAR, self.region)):  # fmt: skip
            actual = environ.get(variable)
            if expected and actual and actual != expected:
                raise ConfigError(
                    f"{PREFIX}{setting}{named} is {expected}, but the CDK CLI is using {actual} "
                    f"({variable}); switch credentials/region (--profile, AWS_REGION) or fix the setting"
                )

    def apply(self, stack: Stack, *, alarm_topic: sns.ITopic) -> None:
        """What the configuration adds to the synthesized stack: tags and alarm e-mail subscriptions."""
        for key, value in sorted(self.tags.items()):
            Tags.of(stack).add(key, value)
        for address in self.alarm_emails:
            # The subscription's construct id is the address, so adding or removing one leaves the others alone.
            alarm_topic.add_subscription(subscriptions.EmailSubscription(address))


def _describe(error: Any, source: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else ""
    key = source.get(name, f"{PREFIX}{name}")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "not a Kizuna setting"
    return f"{key}: {message} (got {error['input']!r})"
