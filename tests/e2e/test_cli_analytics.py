"""`kizuna analytics export|dashboard-url` against local mode: KPIs over a range longer than one query allows, raw
events from the stream's S3 objects (each once), and a signed dashboard link that opens."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
import requests

from kizuna import cli
from kizuna.local.system import REGION

pytestmark = pytest.mark.e2e


@pytest.fixture
def keys(kizuna, monkeypatch) -> None:
    monkeypatch.setenv("KIZUNA_ACCESS_KEY_ID", kizuna.credentials.access_key_id)
    monkeypatch.setenv("KIZUNA_SECRET_ACCESS_KEY", kizuna.credentials.secret_access_key)


def _put(pinpoint, app_id: str, days_ago: int, ident: str) -> None:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    batch = {
        "ep1": {
            "Endpoint": {},
            "Events": {ident: {"EventType": "purchase", "Timestamp": at, "Attributes": {"品": "茶"}}},
        }
    }  # noqa: E501
    pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batch})


def test_kpis_and_events_export_as_csv_and_the_dashboard_link_opens(kizuna, pinpoint, app_id, keys, tmp_path, capsys):
    for days_ago, ident in ((40, "old-ish"), (2, "recent"), (2, "recent"), (0, "today")):  # one replay
        _put(pinpoint, app_id, days_ago, ident)
    assert kizuna.drain_analytics()
    first = (datetime.now(UTC) - timedelta(days=44)).date().isoformat()
    last = datetime.now(UTC).date().isoformat()
    kpis = tmp_path / "kpis.csv"
    code = cli.main(["analytics", "export", "--app", app_id, "--from", first, "--to", last, "--csv",
                     "--kpis", "events-grouped-by-date,events", "--endpoint-url", kizuna.base_url,
                     "--region", REGION, "--output", str(kpis)])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(kpis.open(encoding="utf-8")))
    by_date = {r["group_value"]: float(r["value"]) for r in rows if r["kpi"] == "events-grouped-by-date"}
    assert by_date == {(datetime.now(UTC) - timedelta(days=d)).date().isoformat(): 1.0 for d in (40, 2, 0)}
    assert len({(r["window_start"], r["window_end"]) for r in rows if r["kpi"] == "events"}) == 2  # 45 days: 2 windows
    assert sum(float(r["value"]) for r in rows if r["kpi"] == "events") == 3.0

    events = tmp_path / "events.csv"
    code = cli.main(["analytics", "export", "--app", app_id, "--from", first, "--to", last, "--csv", "--events",
                     "--bucket", kizuna.resources.bucket, "--s3-endpoint-url", kizuna.aws_endpoint,
                     "--region", REGION, "--output", str(events)])  # fmt: skip
    assert code == 0
    exported = list(csv.DictReader(events.open(encoding="utf-8")))
    assert sorted(r["event_id"] for r in exported) == ["old-ish", "recent", "today"]
    assert {r["attributes"] for r in exported} == {'{"品": "茶"}'}

    capsys.readouterr()
    assert cli.main(["analytics", "dashboard-url", "--app", app_id, "--endpoint-url", kizuna.base_url]) == 0
    url = capsys.readouterr().out.strip()
    assert requests.get(url, timeout=10).status_code == 200

    too_old = (datetime.now(UTC) - timedelta(days=100)).date().isoformat()
    with pytest.raises(SystemExit, match="within the last 90 days"):
        cli.main(["analytics", "export", "--app", app_id, "--from", too_old, "--to", last, "--csv", "--kpis",
                  "events", "--endpoint-url", kizuna.base_url])  # fmt: skip
