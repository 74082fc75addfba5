"""The dashboard in a real browser: Debian's Chromium, headless, opens the signed link local mode serves (exchanging
the token for a cookie on the way), and the screenshot's chart colours show that data was drawn."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image

from kizuna.local.system import LocalKizuna
from kizuna.web.dashboard_page import COLORS

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1500,1900",
]


def _screenshot(url: str, tmp_path: Path, name: str) -> Counter:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` (or `make chromium`) installs it"
    out = tmp_path / f"{name}.png"
    profile = tmp_path / f"profile-{name}"
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
        check=True,
        timeout=90,
        capture_output=True,
    )
    image = Image.open(out).convert("RGB")
    return Counter(image.get_flattened_data())


def _pixels(colours: Counter, hex_colour: str) -> int:
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(n for rgb, n in colours.items() if all(abs(a - b) <= 6 for a, b in zip(rgb, target, strict=True)))


def _new_app(pinpoint, name: str) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": name})["ApplicationResponse"]["Id"]


def test_the_dashboard_draws_the_apps_funnel_and_daily_charts(kizuna: LocalKizuna, pinpoint, tmp_path):
    busy = _new_app(pinpoint, "ダッシュボード")
    empty = _new_app(pinpoint, "empty")
    kizuna.sandbox.destination_outcomes["+819022220003"] = ("undelivered", 30003)
    addresses = [f"+81902222{n:04d}" for n in range(6)] + ["+15005550001"]
    for i, address in enumerate(addresses):
        pinpoint.update_endpoint(
            ApplicationId=busy, EndpointId=f"d{i}", EndpointRequest={"ChannelType": "SMS", "Address": address}
        )  # noqa: E501
    pinpoint.send_messages(
        ApplicationId=busy,
        MessageRequest={
            "Endpoints": {f"d{i}": {} for i in range(len(addresses))},
            "MessageConfiguration": {"SMSMessage": {"Body": "ダッシュボード", "MessageType": "TRANSACTIONAL"}},
        },
    )
    start = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    pinpoint.put_events(
        ApplicationId=busy,
        EventsRequest={
            "BatchItem": {
                f"d{i}": {
                    "Endpoint": {},
                    "Events": {
                        "s": {
                            "EventType": "_session.start",
                            "Timestamp": start,
                            "Session": {"Id": f"s{i}", "StartTimestamp": start},
                        }
                    },
                }
                for i in range(4)
            }
        },  # noqa: E501
    )
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while datetime.now(UTC) < deadline:
        done = [
            m
            for m in kizuna.sandbox.messages.values()
            if m.body == "ダッシュボード" and m.status in ("delivered", "undelivered")
        ]  # noqa: E501
        if len(done) == len(addresses) - 1:
            break
        time.sleep(0.2)
    assert kizuna.drain_analytics()

    # the last 7 days (the parameter survives the token-for-cookie redirect)
    with_data = _screenshot(kizuna.dashboard_url(busy) + "&days=7", tmp_path, "busy")
    without = _screenshot(kizuna.dashboard_url(empty) + "&days=7", tmp_path, "empty")
    for series in ("sent", "delivered", "failed", "sessions"):
        drawn, baseline = _pixels(with_data, COLORS[series]), _pixels(without, COLORS[series])
        # the empty page still has legend swatches of each colour; bars and lines of data add far more
        assert drawn > baseline + 400, (series, drawn, baseline)


def test_the_dashboard_refuses_a_browser_without_a_valid_link(kizuna: LocalKizuna, pinpoint):
    app_id = _new_app(pinpoint, "private")
    page = f"{kizuna.base_url}/dashboard/apps/{app_id}"
    assert requests.get(page, timeout=10).status_code == 403
    assert requests.get(page + "?token=kzd1.KZFORGED00000000.x.1.abc", timeout=10).status_code == 403
    other = _new_app(pinpoint, "other")
    link_for_other = kizuna.dashboard_url(other).replace(f"/apps/{other}", f"/apps/{app_id}")
    assert requests.get(link_for_other, timeout=10, allow_redirects=False).status_code == 403
    exchange = requests.get(kizuna.dashboard_url(app_id), timeout=10, allow_redirects=False)
    assert exchange.status_code == 303 and exchange.headers["Location"] == f"/dashboard/apps/{app_id}"
    cookie = exchange.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path=/dashboard/apps/{app_id}" in cookie
    page_response = requests.get(page, cookies=exchange.cookies, timeout=10)
    assert page_response.status_code == 200 and "default-src 'none'" in page_response.headers["Content-Security-Policy"]
