"""What the synthesized stack promises about secrets, webhook throttling and cdk-nag (docs/security.md).

- Secrets only in Secrets Manager: no function's environment holds a secret value, and any variable whose name
  looks like a secret (token, key, password, ...) is a secret's id whose value is a reference to an
  AWS::SecretsManager::Secret of the stack. The template holds no secret value (also
  tests/infra/test_kizuna_stack.py::test_template_holds_no_secret_values). The code reads secrets through Powertools'
  parameters provider only, and keeps them in pydantic SecretStr fields so a logged model shows `**********`.
- Webhooks throttled: the webhooks HTTP API's one stage throttles every route (Twilio, voice, Stripe); the tracked
  links' REST API (kept so links already sent keep working) throttles every method of its one stage.
- cdk-nag: tests/infra/test_kizuna_stack.py::test_cdk_nag_aws_solutions_has_no_unacknowledged_findings asserts zero
  unacknowledged AwsSolutions findings; here, that every acknowledgement carries a reason.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kizuna.catalog import SECRETS
from kizuna.domain.stripe_account import StripeAccount
from kizuna.domain.twilio_account import TwilioAccount

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[3]
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE|CREDENTIAL|AUTH|SIGNING", re.I)
# Literal values that are secrets whatever their variable is called.
SECRET_VALUES = [
    re.compile(r"\bAC[0-9a-f]{32}\b"),  # Twilio account SID
    re.compile(r"\b[0-9a-f]{32}\b"),  # Twilio auth token
    re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_\w+"),  # Stripe keys and webhook secrets
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bKZ[A-Z2-7]{18}\b"),  # Kizuna access key ids
]
# Webhooks API figures (infra/webhooks_api.py, docs/deploy.md and docs/security.md say the same); the links API has
# the same ones (infra/links_api.py).
WEBHOOKS_RATE_LIMIT = 50
WEBHOOKS_BURST_LIMIT = 100


def _functions(synthesized) -> dict[str, dict[str, Any]]:
    return synthesized.of_type("AWS::Lambda::Function")


def _refs(value: Any) -> set[str]:
    """Logical ids a CloudFormation value refers to (Ref, Fn::GetAtt), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            else:
                found |= _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner)
    return found


def _literals(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for inner in value.values() for s in _literals(inner)]
    if isinstance(value, list):
        return [s for inner in value for s in _literals(inner)]
    return []


# --- secrets -----------------------------------------------------------------------------------------------------


def test_every_function_has_an_environment_to_check(synthesized):
    functions = _functions(synthesized)
    with_env = [f for f in functions.values() if f["Properties"].get("Environment", {}).get("Variables")]
    assert len(with_env) >= 10


def test_secret_looking_variables_only_name_a_secrets_manager_secret(synthesized):
    secrets = set(synthesized.of_type("AWS::SecretsManager::Secret"))
    assert secrets
    checked = 0
    for logical_id, fn in _functions(synthesized).items():
        for name, value in fn["Properties"].get("Environment", {}).get("Variables", {}).items():
            if not SECRET_NAME.search(name):
                continue
            checked += 1
            # The name says it is an id, and the value is a reference to one of the stack's secrets (its ARN).
            assert name.endswith("_SECRET_ID"), f"{logical_id}: {name} looks like a secret, not a secret's id"
            assert isinstance(value, dict) and _refs(value) <= secrets and _refs(value), f"{logical_id}: {name}"
    assert checked >= len(SECRETS)


def test_each_catalog_secret_reaches_functions_as_the_arn_of_its_own_secret(synthesized):
    secrets = synthesized.of_type("AWS::SecretsManager::Secret")
    for spec in SECRETS.values():
        values = [
            fn["Properties"]["Environment"]["Variables"][spec.env_var]
            for fn in _functions(synthesized).values()
            if spec.env_var in fn["Properties"].get("Environment", {}).get("Variables", {})
        ]
        assert values, f"no function reads {spec.env_var}"
        for value in values:
            (ref,) = _refs(value)
            name = secrets[ref]["Properties"]["Name"]
            assert (name if isinstance(name, str) else json.dumps(name)).rstrip('"]').endswith(f"/{spec.key}")


def test_no_environment_value_is_a_secret_literal(synthesized):
    for logical_id, fn in _functions(synthesized).items():
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            for text in _literals(value):
                for pattern in SECRET_VALUES:
                    assert not pattern.search(text), f"{logical_id}: {name} holds something like {pattern.pattern}"


def test_the_template_holds_no_secret_literal_anywhere(synthesized):
    text = json.dumps(synthesized.template.to_json())
    for pattern in SECRET_VALUES:
        assert not pattern.search(text), pattern.pattern
    # No CloudFormation parameter or SSM parameter carries a credential either.
    template = synthesized.template.to_json()
    for name, parameter in template.get("Parameters", {}).items():
        if SECRET_NAME.search(name) and not name.startswith("BootstrapVersion"):
            assert parameter.get("NoEcho") is True and "Default" not in parameter, name
    for logical_id, parameter in synthesized.of_type("AWS::SSM::Parameter").items():
        assert not SECRET_NAME.search(parameter["Properties"].get("Name", "") or ""), logical_id


SOURCE_DIRS = [ROOT / "layers" / "kizuna", ROOT / "functions"]
# What runs in AWS (local mode and the operator's command line write secrets into moto or read them as the operator).
NOT_IN_AWS = ("local", "cli", "simulator", "migrate")


def _aws_sources() -> list[Path]:
    files = []
    for base in SOURCE_DIRS:
        for path in base.rglob("*.py"):
            rel = path.relative_to(base)
            if rel.parts[0] in NOT_IN_AWS or rel.name.startswith("cli"):
                continue
            files.append(path)
    return files


def test_only_powertools_parameters_reads_secrets_manager():
    # Given every module that runs in Lambda
    users: dict[str, list[str]] = {}
    for path in _aws_sources():
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "secretsmanager":
                users.setdefault(str(path.relative_to(ROOT)), []).append(f"line {node.lineno}")
            # A boto3 GetSecretValue call takes SecretId; pydantic's SecretStr.get_secret_value() takes nothing.
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_secret_value"
                and (node.args or node.keywords)
            ):
                users.setdefault(str(path.relative_to(ROOT)), []).append(f"GetSecretValue at line {node.lineno}")
    # Then the only Secrets Manager client is the one wiring hands to Powertools' SecretsProvider
    assert users == {"layers/kizuna/wiring.py": [users["layers/kizuna/wiring.py"][0]]}
    wiring = (ROOT / "layers/kizuna/wiring.py").read_text("utf-8")
    assert 'SecretsProvider(boto3_client=aws("secretsmanager"))' in wiring
    # and every handler that needs a provider credential goes through wiring's readers (cached 5 minutes).
    for handler in ("twilio_webhook", "voice_webhook", "stripe_webhook", "relay"):
        text = (ROOT / "functions" / handler / "handler.py").read_text("utf-8")
        assert re.search(r"\b(twilio_account|stripe_account|webhook_signing_secret)\(settings\.\w+_secret_id\)", text)


def test_credentials_are_secret_strings_so_a_logged_model_does_not_show_them():
    twilio = TwilioAccount(
        account_sid="AC" + "0" * 32, auth_token="twilio-auth-token-value", from_number="+15005550006"
    )
    stripe = StripeAccount(api_key="sk_test_value", webhook_secret="whsec_value")
    for model, field_names in ((twilio, ["auth_token"]), (stripe, ["api_key", "webhook_secret"])):
        for name in field_names:
            assert isinstance(getattr(model, name), SecretStr)
        shown = repr(model) + str(model) + json.dumps(model.model_dump(mode="json"))
        assert "twilio-auth-token-value" not in shown and "sk_test_value" not in shown and "whsec_value" not in shown


# --- webhooks throttled ------------------------------------------------------------------------------------------


def _api_named(synthesized, name: str, resource_type: str = "AWS::ApiGateway::RestApi") -> str:
    (logical_id,) = [k for k, v in synthesized.of_type(resource_type).items() if v["Properties"]["Name"] == name]
    return logical_id


def _webhooks_api(synthesized) -> str:
    return _api_named(synthesized, "kizuna-webhooks", "AWS::ApiGatewayV2::Api")


def _stage_of(synthesized, api: str) -> dict[str, Any]:
    (stage,) = [
        s["Properties"]
        for s in synthesized.of_type("AWS::ApiGateway::Stage").values()
        if _refs(s["Properties"]["RestApiId"]) == {api}
    ]
    return stage


def test_the_webhooks_stage_throttles_every_route(synthesized):
    # Given the webhooks HTTP API (Twilio status/inbound/voice callbacks, Stripe events)
    api = _webhooks_api(synthesized)
    # Then it has one stage, and that stage's default route settings (every route) carry the rate and burst limits,
    # with no route settings that loosen them for a route
    (stage,) = [
        s["Properties"]
        for s in synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
        if _refs(s["Properties"]["ApiId"]) == {api}
    ]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == WEBHOOKS_RATE_LIMIT
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == WEBHOOKS_BURST_LIMIT
    assert "RouteSettings" not in stage
    # No usage plan raises it either (HTTP APIs have none; no REST usage plan names this API).
    for plan in synthesized.of_type("AWS::ApiGateway::UsagePlan").values():
        assert api not in _refs(plan["Properties"].get("ApiStages", []))


def test_the_twilio_and_stripe_routes_are_on_the_throttled_api(synthesized):
    api = _webhooks_api(synthesized)
    routes = [r["Properties"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()]
    assert routes and all(_refs(r["ApiId"]) == {api} for r in routes)
    keys = {r["RouteKey"] for r in routes}
    assert {
        "ANY /webhooks/twilio/{proxy+}", "ANY /webhooks/twilio/voice/{proxy+}", "ANY /webhooks/stripe/{proxy+}",
    } <= keys  # fmt: skip
    # and no webhook path is left on a REST API, outside that throttle
    parts = {r["Properties"]["PathPart"] for r in synthesized.of_type("AWS::ApiGateway::Resource").values()}
    assert not parts & {"webhooks", "twilio", "stripe"}


def test_the_tracked_links_stage_throttles_every_method(synthesized):
    # Given the links REST API (public /l/<code> redirects, on the URL the links already sent carry)
    api = _api_named(synthesized, "kizuna-links")
    # Then its only stage throttles every method (/*/*) at the webhooks' figures, and no usage plan raises it
    (settings,) = _stage_of(synthesized, api)["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (
        WEBHOOKS_RATE_LIMIT, WEBHOOKS_BURST_LIMIT,
    )  # fmt: skip
    for plan in synthesized.of_type("AWS::ApiGateway::UsagePlan").values():
        assert api not in _refs(plan["Properties"].get("ApiStages", []))
    # and it serves the links only: `/l/{proxy+}`, nothing else
    parts = {r["Properties"]["PathPart"] for r in synthesized.of_type("AWS::ApiGateway::Resource").values()
             if _refs(r["Properties"]["RestApiId"]) == {api}}  # fmt: skip
    assert parts == {"l", "{proxy+}"}


def test_the_documented_figures_are_the_synthesized_ones(synthesized):
    management = _stage_of(synthesized, _api_named(synthesized, "kizuna-management"))["MethodSettings"][0]
    figures = (management["ThrottlingRateLimit"], management["ThrottlingBurstLimit"])
    deploy = " ".join((ROOT / "docs" / "deploy.md").read_text("utf-8").split())
    sentence = (
        f"management {figures[0]} rps with bursts of {figures[1]}, "
        f"webhooks {WEBHOOKS_RATE_LIMIT} rps with bursts of {WEBHOOKS_BURST_LIMIT}"
    )
    assert sentence in deploy
    security = " ".join((ROOT / "docs" / "security.md").read_text("utf-8").split())
    assert f"{WEBHOOKS_RATE_LIMIT} requests per second" in security and f"bursts of {WEBHOOKS_BURST_LIMIT}" in security


# --- cdk-nag -----------------------------------------------------------------------------------------------------


def test_every_cdk_nag_acknowledgement_gives_a_reason(tmp_path, monkeypatch):
    # Given every acknowledgement the app makes while it is built (infra.nag.acknowledge is the only way in)
    import infra.nag
    from app import create_app

    made: list[tuple[str, str, str]] = []
    real = infra.nag.acknowledge

    def recording(scope, rules):
        made.extend((scope.node.path, rule, reason) for rule, reason in rules.items())
        return real(scope, rules)

    for module in _modules_importing_acknowledge():
        monkeypatch.setattr(module, "acknowledge", recording)
    create_app(outdir=str(tmp_path))
    # (no construct acknowledges through CDK's Validations API directly, around infra.nag)
    direct = [p.name for p in (ROOT / "infra").rglob("*.py") if ".acknowledge(" in p.read_text("utf-8")]
    assert direct == ["nag.py"]
    # Then there are some, each for an AwsSolutions rule, each with a reason of at least a sentence
    assert len(made) >= 10
    assert [m for m in made if not m[1].startswith("AwsSolutions-")] == []
    assert [m for m in made if len(m[2].split()) < 6] == []


def _modules_importing_acknowledge() -> list[Any]:
    import importlib
    import pkgutil

    import infra

    modules = []
    for info in pkgutil.iter_modules(infra.__path__):
        module = importlib.import_module(f"infra.{info.name}")
        if getattr(module, "acknowledge", None) is not None:
            modules.append(module)
    return modules
