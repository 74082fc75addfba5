"""The dashboard page: one HTML document with inline SVG charts and inline styles, readable without JavaScript."""

from __future__ import annotations

from html import escape

from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY
from kizuna.services.dashboard import DashboardView
from kizuna.web.charts import Series, bar_chart, funnel, line_chart

COLORS = {
    "sent": "#1f6fd1",
    "delivered": "#1e9e3a",
    "failed": "#d62728",
    "clicks": "#f08c00",
    "active": "#7b3fbf",
    "sessions": "#0aa3a3",
    "rate": "#1e9e3a",
}
# Allows only the inline styles below: no script, no remote resource of any kind.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP",sans-serif;margin:24px;color:#222;
background:#fafafa}h1{font-size:22px;margin:0 0 4px}p.sub{color:#666;margin:0 0 20px}figure{background:#fff;
border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:0 0 16px;display:inline-block;vertical-align:top}
figcaption{font-weight:600;margin-bottom:8px}.legend{font-size:12px;color:#444;margin-top:4px}.key{margin-right:14px}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}table{border-collapse:
collapse;font-size:13px}td,th{border-bottom:1px solid #eee;padding:4px 12px;text-align:left}nav a{margin-right:12px}
"""


def render(view: DashboardView, base_path: str) -> str:
    labels = [d[5:] for d in view.dates]  # MM-DD
    what = {APP: "App", CAMPAIGN: "Campaign"}.get(view.kind, "Journey")
    named = f"「{view.journey['Name']}」 " if view.journey.get("Name") else ""
    heading = escape(view.app_name) + (
        f" — {what} {escape(named)}{escape(view.resource_id)}" if view.resource_id else ""
    )
    sections = [
        funnel(
            "Delivery funnel",
            [
                ("Sent", COLORS["sent"], view.totals.get("sent", 0.0)),
                ("Delivered", COLORS["delivered"], view.totals.get("delivered", 0.0)),
                ("Clicked", COLORS["clicks"], view.totals.get("clicks", 0.0)),
                ("Failed", COLORS["failed"], view.totals.get("failed", 0.0)),
            ],
        ),
        bar_chart(
            "Messages per day",
            labels,
            [
                Series("Sent", COLORS["sent"], view.daily["sent"]),
                Series("Delivered", COLORS["delivered"], view.daily["delivered"]),
                Series("Failed", COLORS["failed"], view.daily["failed"]),
            ],
        ),
        line_chart(
            "Delivery rate", labels, [Series("Delivered / sent", COLORS["rate"], view.daily["delivery_rate"])], True
        ),
    ]
    if view.kind == APP:
        sections.append(
            bar_chart(
                "Engagement per day",
                labels,
                [
                    Series("Link clicks", COLORS["clicks"], view.daily["clicks"]),
                    Series("Active endpoints", COLORS["active"], view.daily["active"]),
                    Series("Sessions", COLORS["sessions"], view.daily["sessions"]),
                ],
            )
        )
    if view.kind == CAMPAIGN:
        sections.append(_treatments(view.treatments))
    if view.kind == APP:
        sections.append(_journey_list(view.journeys, base_path))
    if view.kind == JOURNEY:
        sections.append(_journey_activities(view))
    sections.append(_errors(view.errors))
    nav = " ".join(f'<a href="{escape(base_path)}?days={n}">{n} days</a>' for n in (7, 14, 31))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Kizuna — {heading}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{heading}</h1><p class="sub">{escape(view.dates[0])} to {escape(view.dates[-1])} (UTC) · '
        f"read-only · <nav>{nav}</nav></p>{''.join(sections)}</body></html>"
    )


def _treatments(treatments: dict[str, tuple[float, float]]) -> str:
    rows = (
        "".join(
            f"<tr><td>{escape(t)}</td><td>{sent:,.0f}</td><td>{delivered:,.0f}</td>"
            f"<td>{(delivered / sent if sent else 0):.1%}</td></tr>"
            for t, (sent, delivered) in treatments.items()
        )
        or '<tr><td colspan="4">No messages yet</td></tr>'
    )
    return (
        "<figure><figcaption>Treatments (A/B; 0 is the campaign's own message)</figcaption><table><tr>"
        f"<th>Treatment</th><th>Sent</th><th>Delivered</th><th>Rate</th></tr>{rows}</table></figure>"
    )


def _journey_list(journeys: list[tuple[str, str, str]], base_path: str) -> str:
    rows = (
        "".join(
            f'<tr><td><a href="{escape(base_path.rstrip("/"))}/journeys/{escape(journey_id)}">{escape(name)}</a></td>'
            f"<td>{escape(state)}</td><td>{escape(journey_id)}</td></tr>"
            for journey_id, name, state in journeys
        )
        or '<tr><td colspan="3">No journeys yet</td></tr>'
    )
    return (
        "<figure><figcaption>Journeys</figcaption><table><tr><th>Journey</th><th>State</th><th>Id</th></tr>"
        f"{rows}</table></figure>"
    )


# The count shown first for each activity type; the rest of its metrics follow.
_HEADLINE = {"MESSAGE": "SUCCESS", "WAIT": "COMPLETED", "HOLDOUT": "HOLDOUT"}


def _journey_activities(view: DashboardView) -> str:
    """The run's GetJourneyExecutionMetrics and each activity's GetJourneyExecutionActivityMetrics, in a table."""
    run = " · ".join(f"{escape(k)} {escape(v)}" for k, v in view.run_metrics.items()) or "not published"
    rows = []
    for row in view.activities:
        metrics = dict(row.metrics)
        entered = metrics.pop("ENTERED", "0")
        headline = _HEADLINE.get(row.activity_type, "TOTAL")
        first = metrics.pop(headline, None)
        rest = " · ".join(f"{escape(k)} {escape(v)}" for k, v in metrics.items() if v != "0" or k.startswith("Branch"))
        rows.append(
            f"<tr><td>{escape(row.activity_id)}</td><td>{escape(row.activity_type)}</td><td>{escape(entered)}</td>"
            f"<td>{escape(headline) + ' ' + escape(first) if first is not None else ''}</td><td>{rest}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="5">No activities</td></tr>'
    state = escape(view.journey.get("State", ""))
    return (
        f"<figure><figcaption>Journey activities ({state}; run: {run})</figcaption><table><tr><th>Activity</th>"
        f"<th>Type</th><th>Entered</th><th>Outcome</th><th>Paths and other counts</th></tr>{body}</table></figure>"
    )


def _errors(errors: dict[str, float]) -> str:
    if not errors:
        rows = '<tr><td colspan="2">No failed messages</td></tr>'
    else:
        rows = "".join(
            f"<tr><td>{escape(code)}</td><td>{count:,.0f}</td></tr>"
            for code, count in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
        )
    return f"<figure><figcaption>Failures by error</figcaption><table><tr><th>Error</th><th>Messages</th></tr>{rows}</table></figure>"  # noqa: E501


def error_page(status: int, message: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{status}</title><style>{_STYLE}</style></head>'
        f"<body><h1>{status}</h1><p>{escape(message)}</p></body></html>"
    )
