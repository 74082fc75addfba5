"""Template versions over the in-memory store: Pinpoint's version rules, races, and paging."""

from __future__ import annotations

import pytest

from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.errors import BadRequest, NotFound
from kizuna.services import templates

ARN = "arn:aws:mobiletargeting:us-east-1:123456789012"


@pytest.fixture
def store() -> InMemoryTemplateStore:
    return InMemoryTemplateStore()


def test_create_then_new_versions_leave_the_active_version_alone(store, clock):
    templates.create_template(store, clock, ARN, "SMS", "otp", {"Body": "code {{Attributes.Code}}"})
    templates.update_template(store, clock, "SMS", "otp", {"Body": "v2"}, True, None)
    templates.update_template(store, clock, "SMS", "otp", {"Body": "v3"}, True, "2")

    head = store.get_head("SMS", "otp")
    assert (head["ActiveVersion"], head["LatestVersion"]) == (1, 3)
    assert templates.get_template(store, "SMS", "otp", None)["Body"] == "code {{Attributes.Code}}"
    assert templates.get_template(store, "SMS", "otp", "3")["Body"] == "v3"


def test_a_new_version_that_loses_a_race_is_refused_and_leaves_nothing(store, clock):
    templates.create_template(store, clock, ARN, "SMS", "promo", {"Body": "v1"})
    real_put = store.put_head

    def racing_put(head, expected_latest):  # another editor adds version 2 just before this write lands
        store.put_head = real_put
        real_put({**store.get_head("SMS", "promo"), "LatestVersion": 2}, expected_latest=1)
        return real_put(head, expected_latest)

    store.put_head = racing_put
    with pytest.raises(BadRequest, match="changed by another request"):
        templates.update_template(store, clock, "SMS", "promo", {"Body": "mine"}, True, None)

    assert store.get_version("SMS", "promo", 2) is None  # the loser's version was removed


def test_deleting_the_latest_version_moves_latest_back(store, clock):
    templates.create_template(store, clock, ARN, "VOICE", "call", {"Body": "v1", "LanguageCode": "ja-JP"})
    templates.update_template(store, clock, "VOICE", "call", {"Body": "v2"}, True, None)

    templates.delete_template(store, "VOICE", "call", "2")
    templates.update_template(store, clock, "VOICE", "call", {"Body": "v2 again"}, True, "1")

    assert templates.get_template(store, "VOICE", "call", "2")["Body"] == "v2 again"
    with pytest.raises(NotFound):
        templates.delete_template(store, "VOICE", "call", "9")


def test_paging_and_bad_arguments(store, clock):
    for i in range(5):
        templates.create_template(store, clock, ARN, "EMAIL", f"mail-{i}", {"Subject": "件名", "TextPart": "本文"})

    first = templates.list_templates(store, "mail-", None, "2", None)
    rest = templates.list_templates(store, "mail-", "email", "10", first["NextToken"])

    assert [t["TemplateName"] for t in first["Item"] + rest["Item"]] == [f"mail-{i}" for i in range(5)]
    for call in (
        lambda: templates.list_templates(store, None, "PUSH", None, None),
        lambda: templates.list_templates(store, None, None, "0", None),
        lambda: templates.create_template(store, clock, ARN, "SMS", "-bad", {"Body": "x"}),
        lambda: templates.set_active_version(store, "EMAIL", "mail-0", {"Version": "zero"}),
    ):
        with pytest.raises(BadRequest):
            call()
