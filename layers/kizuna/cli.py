"""The `kizuna` command: local mode, the demo, access keys, the API's OpenAPI document, endpoint import/export,
analytics exports (local or deployed), Pinpoint stack migration and the journey simulator."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kizuna import cli_analytics, cli_endpoints, cli_journeys, cli_migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kizuna", description="Pinpoint-compatible engagement on your own AWS.")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run Kizuna on this machine (moto + sandbox Twilio), in the foreground")
    local.add_argument("--port", type=int, default=0, help="API port (default: a free one)")

    demo = commands.add_parser("demo", help="local mode end to end: 200 endpoints, one SMS each, receipts, summary")
    demo.add_argument("--endpoints", type=int, default=200)
    demo.add_argument("--keep-running", action="store_true", help="keep local mode up afterwards for the dashboard")

    keys = commands.add_parser("keys", help="access keys for the management API")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an access key (prints the secret once)")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--admin", action="store_true", help="a key for every app, able to create apps")
    scope.add_argument("--app", action="append", dest="apps", metavar="APP_ID", help="limit the key to this app")
    create.add_argument("--description", default="")
    create.add_argument("--table", required=True, help="the stack's access-keys table (stack output FirstAdminKey)")
    create.add_argument("--kms-key", required=True, help="the stack's KMS key id")
    create.add_argument("--region", default=None)

    openapi = commands.add_parser("openapi", help="print the management API's OpenAPI document (JSON)")
    openapi.add_argument("--server-url", default=None, help="the API's base URL, written into `servers`")

    cli_endpoints.add_parser(commands)
    cli_analytics.add_parser(commands)
    cli_migrate.add_parser(commands)
    cli_journeys.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "endpoints":
        return cli_endpoints.run(args)
    if args.command == "analytics":
        return cli_analytics.run(args)
    if args.command == "migrate":
        return cli_migrate.run(args)
    if args.command == "journeys":
        return cli_journeys.run(args)
    if args.command == "openapi":
        return _openapi(args.server_url)
    if args.command == "local":
        return _local(args.port)
    if args.command == "demo":
        from kizuna.local.demo import run

        return run(args.endpoints, keep_running=args.keep_running)
    return _create_key(args)


def _openapi(server_url: str | None) -> int:
    import json

    from kizuna.api.app import registered_operations
    from kizuna.pinpoint.openapi import openapi_document

    print(json.dumps(openapi_document(registered_operations(), server_url=server_url), indent=2, ensure_ascii=False))
    return 0


def _local(port: int) -> int:
    from kizuna.local.system import LocalKizuna

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalKizuna(port=port) as kizuna:
        credentials = kizuna.credentials
        print(f"Kizuna local API: {kizuna.base_url}", flush=True)
        print(f"Local AWS (moto, for --s3-endpoint-url): {kizuna.aws_endpoint}", flush=True)
        print(f"KIZUNA_ACCESS_KEY_ID={credentials.access_key_id}", flush=True)
        print(f"KIZUNA_SECRET_ACCESS_KEY={credentials.secret_access_key}", flush=True)
        stop.wait()
    return 0


def _create_key(args: argparse.Namespace) -> int:
    import boto3

    from kizuna.adapters.access_key_store import DynamoAccessKeyStore
    from kizuna.auth.access_keys import create_access_key
    from kizuna.clock import SystemClock

    session = boto3.Session(region_name=args.region)
    store = DynamoAccessKeyStore(args.table, args.kms_key, session.client("dynamodb"), session.client("kms"))
    key, secret = create_access_key(store, None if args.admin else args.apps, args.description, SystemClock())
    print(f"KIZUNA_ACCESS_KEY_ID={key.access_key_id}")
    print(f"KIZUNA_SECRET_ACCESS_KEY={secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
