"""Apps (Pinpoint "projects"): every key, item and metric in Kizuna is scoped by one."""

from __future__ import annotations

import uuid

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import Clock, iso
from kizuna.domain.apps import App
from kizuna.domain.jobs import PurgeApp
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, JobQueue, SegmentStore

MAX_PAGE_SIZE = 1000


def create_app(store: AppStore, clock: Clock, arn_prefix: str, request: dict) -> App:
    name = (request.get("Name") or "").strip()
    if not name:
        raise BadRequest("CreateApplicationRequest.Name must not be empty")
    if len(name) > 64:
        raise BadRequest("CreateApplicationRequest.Name must be at most 64 characters")
    app_id = uuid.uuid4().hex
    app = App(app_id, name, f"{arn_prefix}:apps/{app_id}", iso(clock.now()), dict(request.get("tags") or {}))
    store.put_app(app)
    return app


def get_app(store: AppStore, app_id: str) -> App:
    app = store.get_app(app_id)
    if app is None:
        raise NotFound(f"Application {app_id} not found")
    return app


def list_apps(store: AppStore, page_size: str | None, token: str | None, visible: frozenset[str] | None) -> dict:
    try:
        limit = int(page_size) if page_size else 100
    except ValueError:
        raise BadRequest("page-size must be an integer") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be between 1 and {MAX_PAGE_SIZE}")
    apps, next_token = store.list_apps(limit, token)
    if visible is not None:
        apps = [a for a in apps if a.id in visible]
    response: dict = {"Item": [a.to_pinpoint() for a in apps]}
    if next_token:
        response["NextToken"] = next_token
    return response


def delete_app(store: AppStore, app_id: str, segments: SegmentStore | None = None, jobs: JobQueue | None = None) -> App:
    """Remove the app and everything of it. With a jobs queue the app is retired at once (GetApp answers 404) and
    its data is purged by the jobs function, shard by shard: an app of millions of endpoints cannot be deleted
    within one API call. Without one (tests, tools) everything goes inline."""
    app = get_app(store, app_id)
    if jobs is None:
        if segments is not None:
            segments.purge_app(app_id)  # first: the segment list lives in the app partition
        store.delete_app(app_id)
        return app
    store.retire_app(app_id)
    try:
        jobs.enqueue([PurgeApp(app_id=app_id, job_id=f"purge-{app_id}", part="segments")])
    except Exception:
        store.put_app(app)  # nothing will purge it: the app stays, and the caller may retry
        raise
    return app


def purge_app_step(store: AppStore, segments: SegmentStore | None, jobs: JobQueue, step: PurgeApp) -> None:
    """One purge step (jobs function); each is idempotent, so a redelivered step does no harm."""
    if step.part == "segments":
        if segments is not None:
            segments.purge_app(step.app_id)
        parts: list[int | str] = [*range(ENDPOINT_SHARDS), "app"]
        jobs.enqueue([step.model_copy(update={"part": part}) for part in parts])
    elif step.part == "app":
        store.purge_app_data(step.app_id, None)
    else:
        store.purge_app_data(step.app_id, step.part)
