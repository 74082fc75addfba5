"""Template rendering as Pinpoint's Handlebars did it, over an endpoint document."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.domain.templates import check_template, parse_defaults, render
from kizuna.errors import BadRequest

HANAKO = {
    "Id": "e1",
    "ChannelType": "SMS",
    "Address": "+819012345678",
    "Attributes": {"City": ["東京", "大阪"], "Plan": ["gold"]},
    "User": {"UserId": "u1", "UserAttributes": {"FirstName": ["花子"], "Colors": ["赤", "青"]}},
    "Metrics": {"points": 1200.0, "ratio": 0.5},
    "Demographic": {"Timezone": "Asia/Tokyo"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{User.UserAttributes.FirstName}}様、ご予約ありがとうございます", "花子様、ご予約ありがとうございます"),
        ("{{Attributes.City}}", "東京,大阪"),  # arrays print comma-joined, as in Handlebars.js
        ("{{Metrics.points}} / {{Metrics.ratio}}", "1200 / 0.5"),
        ("{{Address}} {{ChannelType}} {{User.UserId}} {{Demographic.Timezone}}", "+819012345678 SMS u1 Asia/Tokyo"),
        ("[{{Missing}}][{{Missing.Deeper.Path}}][{{Attributes.Nope}}]", "[][][]"),
        ("{{#if User.UserAttributes.FirstName}}yes{{else}}no{{/if}}", "yes"),
        ("{{#if Attributes.Nope}}yes{{else}}no{{/if}}", "no"),
        ("{{#each User.UserAttributes.Colors}}{{@index}}:{{this}} {{/each}}", "0:赤 1:青 "),
        ("{{#each Attributes.Nope}}x{{else}}none{{/each}}", "none"),
        ("a < b & {{Attributes.Plan}}", "a < b & gold"),  # no HTML escaping in SMS
    ],
)
def test_render(source, expected):
    assert render(source, HANAKO) == expected


def test_substitutions_win_and_defaults_fill_only_what_is_empty():
    source = "{{User.UserAttributes.FirstName}}さん {{Attributes.Coupon}} {{Attributes.City}}"
    defaults = {"User.UserAttributes.FirstName": "お客", "Attributes.Coupon": "WELCOME", "Attributes.City": "どこか"}

    assert render(source, {}, defaults) == "お客さん WELCOME どこか"
    assert render(source, HANAKO, defaults) == "花子さん WELCOME 東京,大阪"
    assert render(source, HANAKO, defaults, {"Attributes.City": ["福岡"]}) == "花子さん WELCOME 福岡"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (42, "must be a string"),
        ("{{#if a}}open", "never closed"),
        ("{{/if}}", "not open"),
        ("{{#each a}}{{/if}}", "not open"),
        ("{{ a }", "unbalanced"),
        ("x" * 100_001, "limit"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(source, reason):
    with pytest.raises(BadRequest) as caught:
        check_template(source, "SMSTemplateRequest.Body")

    assert caught.value.message.startswith("SMSTemplateRequest.Body") and reason in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, {}), ("", {}), ('{"User.UserAttributes.FirstName": "there"}', {"User.UserAttributes.FirstName": "there"})],
)
def test_default_substitutions_parse(text, expected):
    assert parse_defaults(text, "DefaultSubstitutions") == expected


@pytest.mark.parametrize("text", ["{", "[]", '{"a": 1}', 7])
def test_bad_default_substitutions_name_the_field(text):
    with pytest.raises(BadRequest, match="SMSTemplateRequest.DefaultSubstitutions"):
        parse_defaults(text, "SMSTemplateRequest.DefaultSubstitutions")


odd = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["Attributes", "User", "Metrics", "Address", "Location"]), odd))
def test_a_valid_template_renders_any_endpoint_data_without_raising(endpoint):
    source = (
        "{{User.UserAttributes.FirstName}} {{Attributes.City}} {{Metrics.points}} {{Location.Country.Deep}}"
        "{{#if Attributes.City}}y{{else}}n{{/if}}{{#each User.UserAttributes.Colors}}{{this}}{{/each}}"
    )

    assert isinstance(render(source, endpoint, {"Attributes.City": "既定"}), str)


# -- safety: pybars compiles templates into Python source ------------------------------------------------------------

PAYLOAD = "str(__import__('builtins').__dict__.update(KIZUNA_PWNED=1))"  # no brackets: it must fit in a segment


@pytest.fixture
def pwned():
    import builtins

    builtins.__dict__.pop("KIZUNA_PWNED", None)
    yield lambda: builtins.__dict__.get("KIZUNA_PWNED")
    builtins.__dict__.pop("KIZUNA_PWNED", None)


@pytest.mark.parametrize(
    "source",
    [
        "{{[x'+" + PAYLOAD + "+'y]}}",  # pybars copies bracketed segments into its source unescaped
        "{{a.[x'+" + PAYLOAD + "+'y]}}",
        '{{helper "x\\" + ' + PAYLOAD + ' + \\""}}',
        "{{> partial}}",
    ],
)
def test_code_injection_through_tags_is_refused_before_pybars_sees_it(source, pwned):
    with pytest.raises(BadRequest):
        check_template(source, "SMSMessage.Body")
    with pytest.raises(BadRequest):
        render(source, {})
    assert pwned() is None


@pytest.mark.parametrize(
    "source",
    [
        "x'+" + PAYLOAD + "+'y",  # plain text
        'x"+' + PAYLOAD + '+"y\\n\\\\',
        "{{! '+" + PAYLOAD + "+' }}",  # a comment
        "{{helper '" + PAYLOAD.replace("'", '"') + "'}}",  # a quoted argument
        "'''\n" + PAYLOAD + "\n'''",
    ],
)
def test_text_comments_and_quoted_arguments_stay_text(source, pwned):
    check_template(source, "SMSMessage.Body")

    render(source, {})

    assert pwned() is None


PIECES = ["{{", "}}", "{{{", "}}}", "[", "]", "'", '"', "\\", "+", "a", ".", "#if ", "/if", "#each ", "/each",
          " ", "\n", "!", "@index", "=", "~", "^", "&", ">", PAYLOAD]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_whatever_passes_the_check_renders_without_running_code(source):
    import builtins

    builtins.__dict__.pop("KIZUNA_PWNED", None)
    try:
        check_template(source, "Body")
    except BadRequest:
        return
    render(source, {"a": "1"})
    assert builtins.__dict__.get("KIZUNA_PWNED") is None
