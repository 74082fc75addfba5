"""Routes of the analytics_web function (one Powertools REST resolver): the dashboard, on the management REST API,
and tracked-link redirects, on the links REST API (infra/links_api.py); both give payload format 1.0 events.

- GET /dashboard/apps/{app}                        the app's dashboard
- GET /dashboard/apps/{app}/campaigns/{campaign}   one campaign's
- GET /dashboard/apps/{app}/journeys/{journey}     one journey's, with its execution metrics per activity
  A request with `?token=` (kizuna analytics dashboard-url) gets the token back as an HttpOnly, SameSite=Strict
  cookie scoped to the app's dashboard path and a redirect to the same page without it; later requests carry the
  cookie. Anything else is 403.
- GET /l/{code}                                    a tracked link: the click is recorded, 302 to the original URL
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from kizuna.auth import dashboard_tokens
from kizuna.auth.access_keys import AccessKey
from kizuna.clock import Clock
from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY
from kizuna.errors import Forbidden, KizunaError, NotFound
from kizuna.ports import AppStore, EventSink, JourneyStore
from kizuna.ports_analytics import AggregateStore, LinkStore
from kizuna.ports_journeys import EngagementStore, ParticipantStore
from kizuna.services.dashboard import dashboard_view
from kizuna.services.links import follow_link
from kizuna.web.dashboard_page import CONTENT_SECURITY_POLICY, error_page, render

COOKIE = "kizuna_dashboard"
_HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Keys:
    """What verifying a dashboard token needs of the access keys (auth.access_keys.CachedSecretLookup has both)."""

    def secret_for(self, access_key_id: str) -> str | None: ...
    def key(self, access_key_id: str) -> AccessKey | None: ...


@dataclass
class WebDeps:
    apps: AppStore
    aggregates: AggregateStore
    links: LinkStore
    events: EventSink
    keys: Keys
    clock: Clock
    engagement: EngagementStore | None = None  # clicks on journey messages' links, for journey conditions
    journeys: JourneyStore | None = None  # the app page's list of journeys
    participants: ParticipantStore | None = None  # a journey's run tallies: its execution metrics per activity


def build_resolver(deps: WebDeps) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    def dashboard(app_id: str, kind: str, resource_id: str | None) -> Response:
        event = app.current_event
        query = event.query_string_parameters or {}
        browser_path = event.request_context.path or event.path  # with the stage prefix the browser sees
        app_path = browser_path.split("/campaigns/")[0].split("/journeys/")[0]
        token = query.get("token")
        if token:
            dashboard_tokens.verify(token, app_id, deps.clock.now(), deps.keys.secret_for, deps.keys.key)
            rest = {k: v for k, v in query.items() if k != "token"}
            cookie = Cookie(
                COOKIE,
                token,
                path=app_path,
                # Behind API Gateway the page is https; local mode serves plain http on loopback.
                secure=event.headers.get("X-Forwarded-Proto", "") == "https",
                http_only=True,
                max_age=max(0, int(token.rsplit(".", 2)[1]) - int(deps.clock.now().timestamp())),
                same_site=SameSite.STRICT_MODE,
            )
            location = browser_path + (f"?{urlencode(rest)}" if rest else "")
            headers = {"Location": location, "Cache-Control": "no-store"}
            return Response(303, "text/plain", "See Other", headers, cookies=[cookie])
        dashboard_tokens.verify(_cookie(event), app_id, deps.clock.now(), deps.keys.secret_for, deps.keys.key)
        if deps.apps.get_app(app_id) is None:
            raise NotFound(f"Application {app_id} not found")
        try:
            days = int(query.get("days", "30"))
        except ValueError:
            days = 30
        view = dashboard_view(
            deps.apps, deps.aggregates, deps.clock, app_id, kind, resource_id, days, deps.journeys, deps.participants
        )
        return Response(200, "text/html; charset=utf-8", render(view, browser_path), dict(_HTML_HEADERS))

    @app.get("/dashboard/apps/<app_id>")
    def app_dashboard(app_id: str) -> Response:
        return dashboard(app_id, APP, None)

    @app.get("/dashboard/apps/<app_id>/campaigns/<campaign_id>")
    def campaign_dashboard(app_id: str, campaign_id: str) -> Response:
        return dashboard(app_id, CAMPAIGN, campaign_id)

    @app.get("/dashboard/apps/<app_id>/journeys/<journey_id>")
    def journey_dashboard(app_id: str, journey_id: str) -> Response:
        return dashboard(app_id, JOURNEY, journey_id)

    @app.get("/l/<code>")
    def tracked_link(code: str) -> Response:
        agent = app.current_event.headers.get("User-Agent", "")
        url = follow_link(deps.links, deps.events, deps.clock, code, agent, deps.engagement)
        if url is None:
            return Response(
                404, "text/plain", "This link does not exist or has expired.", {"Cache-Control": "no-store"}
            )
        headers = {"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return Response(302, "text/plain", "Found", headers)

    @app.exception_handler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return Response(403, "text/html; charset=utf-8", error_page(403, exc.message), dict(_HTML_HEADERS))

    @app.exception_handler(KizunaError)
    def domain_error(exc: KizunaError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        return Response(status, "text/html; charset=utf-8", error_page(status, exc.message), dict(_HTML_HEADERS))

    @app.not_found
    def not_found(_exc: Exception) -> Response:
        return Response(404, "text/html; charset=utf-8", error_page(404, "Not found"), dict(_HTML_HEADERS))

    return app


def _cookie(event: Any) -> str:
    header = event.headers.get("Cookie", "")
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is just no cookie
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else ""
