"""Import and export jobs over in-memory fakes: planning, per-row failures, counting each piece once, completion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kizuna.adapters.memory import InMemoryDataStore
from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore, InMemoryObjects
from kizuna.clock import VirtualClock
from kizuna.domain.apps import App
from kizuna.domain.jobs import COMPLETED, EXPORT, FAILED, IMPORT, PROCESSING, ExportPiece, ImportPiece, PlanImport
from kizuna.errors import BadRequest, NotFound
from kizuna.services import export_jobs, import_jobs
from kizuna.services.import_jobs import JobDeps

APP = "app1"
ROLE = "arn:aws:iam::123456789012:role/import"


@pytest.fixture
def deps(data: InMemoryDataStore, clock: VirtualClock) -> JobDeps:
    data.put_app(App(APP, "test", f"arn:aws:mobiletargeting:us-east-1:123456789012:apps/{APP}", "2026-01-01", {}))
    return JobDeps(
        apps=data,
        endpoints=data,
        jobs=InMemoryJobStore(),
        queue=InMemoryJobQueue(),
        objects=InMemoryObjects(chunk=7),
        clock=clock,
        piece_rows=10,
    )


def create(deps: JobDeps, **request: Any) -> dict[str, Any]:
    request = {"Format": "CSV", "S3Url": "s3://bucket/in/people.csv", "RoleArn": ROLE} | request
    return import_jobs.create_import_job(deps.apps, deps.jobs, deps.queue, None, deps.clock, "arn", APP, request)


def run_queue(deps: JobDeps) -> list[Any]:
    """Deliver every queued message (and what they queue) once, in order."""
    handled = []
    while messages := deps.queue.take():
        for message in messages:
            handled.append(message)
            match message:
                case PlanImport():
                    import_jobs.plan_import(deps, message)
                case ImportPiece():
                    import_jobs.process_import_piece(deps, message)
                case ExportPiece():
                    export_jobs.process_export_piece(deps, message)
    return handled


def people_csv(count: int, bad: set[int] = frozenset()) -> bytes:
    lines = ["Id,ChannelType,Address,Attributes.Name"]
    for i in range(1, count + 1):
        address = "not-a-number" if i in bad else f"+8190{i:08d}"
        lines.append(f"ep-{i},SMS,{address},名前{i}")
    return ("\n".join(lines) + "\n").encode()


def test_import_counts_rows_and_reports_each_bad_row(deps):
    deps.objects.put("bucket", "in/people.csv", people_csv(35, bad={3, 17}))
    job = create(deps)

    run_queue(deps)

    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert done["JobStatus"] == COMPLETED and done["CompletionDate"]
    assert (done["TotalPieces"], done["CompletedPieces"], done["FailedPieces"]) == (4, 4, 0)
    assert (done["TotalProcessed"], done["TotalFailures"]) == (35, 2)
    assert [f.split(":")[0] for f in done["Failures"]] == ["row 3", "row 17"]
    assert deps.endpoints.get_endpoint(APP, "ep-4")["Attributes"] == {"Name": ["名前4"]}
    assert deps.endpoints.get_endpoint(APP, "ep-3") is None
    assert deps.apps.get_attribute_registry(APP)["custom"] == {"Name"}
    assert deps.objects.roles[0] == (ROLE, None)


def test_a_piece_delivered_twice_is_counted_once(deps):
    deps.objects.put("bucket", "in/people.csv", people_csv(15))
    job = create(deps)
    plan = deps.queue.take()
    import_jobs.plan_import(deps, plan[0])
    pieces = deps.queue.take()
    assert len(pieces) == 2

    import_jobs.process_import_piece(deps, pieces[0])
    import_jobs.process_import_piece(deps, pieces[0])  # SQS redelivery
    midway = deps.jobs.get_job(APP, IMPORT, job["Id"])
    import_jobs.process_import_piece(deps, pieces[1])

    assert (midway["JobStatus"], midway["CompletedPieces"], midway["TotalProcessed"]) == (PROCESSING, 1, 10)
    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert (done["JobStatus"], done["CompletedPieces"], done["TotalProcessed"]) == (COMPLETED, 2, 15)


def test_a_replanned_job_queues_the_same_pieces_and_still_completes_once(deps):
    deps.objects.put("bucket", "in/people.csv", people_csv(15))
    job = create(deps)
    [plan] = deps.queue.take()
    import_jobs.plan_import(deps, plan)
    import_jobs.plan_import(deps, plan)  # the plan message came back

    pieces = deps.queue.take()
    for piece in pieces:
        import_jobs.process_import_piece(deps, piece)

    assert len(pieces) == 4 and len({p.piece for p in pieces}) == 2
    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert (done["JobStatus"], done["TotalPieces"], done["TotalProcessed"]) == (COMPLETED, 2, 15)


def test_failures_list_is_capped_but_every_failure_is_counted(deps):
    deps.piece_rows = 1000
    deps.objects.put("bucket", "in/people.csv", people_csv(300, bad=set(range(1, 251))))
    job = create(deps)

    run_queue(deps)

    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert done["TotalFailures"] == 250 and len(done["Failures"]) == 100


def test_a_missing_object_fails_the_job_with_the_reason(deps):
    deps.objects.put("bucket", "other.csv", b"x")
    job = create(deps)

    run_queue(deps)

    failed = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert failed["JobStatus"] == FAILED and "No CSV files" in failed["Failures"][0]


def test_an_unknown_column_fails_the_job_before_any_piece(deps):
    deps.objects.put("bucket", "in/people.csv", b"ChannelType,Adress\nSMS,+15005550006\n")
    job = create(deps)

    run_queue(deps)

    failed = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert failed["JobStatus"] == FAILED and "Adress" in failed["Failures"][0]


def test_an_object_changed_after_planning_fails_its_pieces(deps):
    deps.objects.put("bucket", "in/people.csv", people_csv(15))
    job = create(deps)
    import_jobs.plan_import(deps, deps.queue.take()[0])
    deps.objects.put("bucket", "in/people.csv", people_csv(16))

    run_queue(deps)

    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert (done["JobStatus"], done["FailedPieces"]) == (FAILED, 2)
    assert "changed" in done["Failures"][0]


def test_a_transient_error_is_retried_until_the_last_attempt(deps, monkeypatch):
    deps.objects.put("bucket", "in/people.csv", people_csv(5))
    job = create(deps)
    import_jobs.plan_import(deps, deps.queue.take()[0])
    [piece] = deps.queue.take()
    monkeypatch.setattr(deps.objects, "read_range", lambda *a: (_ for _ in ()).throw(TimeoutError()))

    with pytest.raises(TimeoutError):
        import_jobs.process_import_piece(deps, piece, final_attempt=False)
    import_jobs.process_import_piece(deps, piece, final_attempt=True)

    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert (done["JobStatus"], done["FailedPieces"], done["Failures"]) == (FAILED, 1, ["piece 0: TimeoutError"])


def test_prefix_import_reads_every_file_of_the_format_and_names_the_file_in_failures(deps):
    deps.objects.put("bucket", "in/a.json", b'{"Id":"a","ChannelType":"EMAIL","Address":"a@example.com"}\n')
    deps.objects.put("bucket", "in/b.json", b'{"Id":"b","ChannelType":"EMAIL","Address":"nope"}\n')
    deps.objects.put("bucket", "in/c.csv", b"ignored")
    job = create(deps, Format="JSON", S3Url="s3://bucket/in/")

    run_queue(deps)

    done = deps.jobs.get_job(APP, IMPORT, job["Id"])
    assert (done["TotalPieces"], done["TotalProcessed"], done["TotalFailures"]) == (2, 2, 1)
    assert done["Failures"][0].startswith("in/b.json row 1: Invalid email address")


def test_rows_without_id_get_a_stable_id_from_channel_and_address(deps):
    deps.objects.put("bucket", "in/people.csv", b"ChannelType,Address\nSMS,+81 90 1234 5678\n")
    create(deps)
    run_queue(deps)
    create(deps)
    run_queue(deps)

    endpoints = list(deps.endpoints.scan_shard(APP, 0)) + [
        e for shard in range(1, 16) for e in deps.endpoints.scan_shard(APP, shard)
    ]
    assert [e["Address"] for e in endpoints] == ["+819012345678"]


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"Format": "XML"}, "Format"),
        ({"S3Url": "https://bucket/x"}, "S3Url"),
        ({"RoleArn": "role"}, "RoleArn"),
    ],
)
def test_create_refuses_bad_requests(deps, request_, message):
    with pytest.raises(BadRequest, match=message):
        create(deps, **request_)


def test_jobs_are_listed_newest_first_and_unknown_jobs_are_not_found(deps, clock):
    first = create(deps)
    clock.advance(1)
    second = create(deps)

    listed = import_jobs.list_jobs(deps.apps, deps.jobs, IMPORT, APP, None, None)

    assert [j["Id"] for j in listed["Item"]] == [second["Id"], first["Id"]]
    with pytest.raises(NotFound):
        import_jobs.get_job(deps.apps, deps.jobs, IMPORT, APP, "nope")


def test_export_writes_one_json_lines_file_per_shard_that_imports_back(deps):
    endpoints = [
        {"Id": f"ep-{i}", "ChannelType": "SMS", "Address": f"+8190{i:08d}", "OptOut": "ALL" if i % 2 else "NONE"}
        for i in range(40)
    ]
    deps.endpoints.put_endpoints(APP, endpoints)
    job = export_jobs.create_export_job(
        deps.apps, deps.jobs, deps.queue, None, deps.clock, APP, {"S3UrlPrefix": "s3://out/x/", "RoleArn": ROLE}
    )

    run_queue(deps)

    done = deps.jobs.get_job(APP, EXPORT, job["Id"])
    assert (done["JobStatus"], done["TotalPieces"], done["TotalProcessed"]) == (COMPLETED, 16, 40)
    files = {k: v for (b, k), v in deps.objects.objects.items() if b == "out"}
    assert len(files) == 16 and all(k.startswith(f"x/{job['Id']}/shard-") for k in files)
    lines = [json.loads(line) for body in files.values() for line in body.splitlines()]
    assert sorted(lines, key=lambda e: int(e["Id"][3:])) == endpoints
