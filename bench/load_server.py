"""Local mode in a process of its own for the load run (bench/load_api.py), steered over stdin/stdout.

Prints one JSON line when it is up (API URL, moto's URL, the admin key, the Twilio sandbox account, table names),
then answers one JSON line per command line:

    {"cmd": "undeliverable", "addresses": [...]}  the sandbox ends messages to these addresses undelivered (30003)
    {"cmd": "messages"}                           the sandbox's messages: sid, to, from, status callback, final status
    {"cmd": "drain", "timeout": 900}              wait until every queue, callback and analytics object is done
    {"cmd": "stop"} (or end of input)             stop local mode and exit

The sandbox moves messages along as Twilio does but posts no status callbacks: the load run posts them.
Anything the handlers print goes to stderr, so that stdout carries only the protocol.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers"))

from kizuna.local.system import REGION, LocalKizuna  # noqa: E402

UNDELIVERED = ("undelivered", 30003)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # handler logs and metrics written to stdout land on stderr
    sys.stdout = sys.stderr

    def answer(payload: dict) -> None:
        protocol.write(json.dumps(payload) + "\n")

    with LocalKizuna() as kizuna:
        kizuna.sandbox.callbacks_enabled = False
        assert kizuna.credentials is not None
        answer(
            {
                "base_url": kizuna.base_url,
                "aws_endpoint": kizuna.aws_endpoint,
                "region": REGION,
                "access_key_id": kizuna.credentials.access_key_id,
                "secret_access_key": kizuna.credentials.secret_access_key,
                "account_sid": kizuna.sandbox.account_sid,
                "auth_token": kizuna.sandbox.auth_token,
                "tables": kizuna.resources.tables,
            }
        )
        for line in sys.stdin:
            command = json.loads(line)
            if command["cmd"] == "undeliverable":
                kizuna.sandbox.destination_outcomes |= {a: UNDELIVERED for a in command["addresses"]}
                answer({"ok": True})
            elif command["cmd"] == "messages":
                answer({"messages": [_message(m) for m in kizuna.sandbox.messages.values()]})
            elif command["cmd"] == "drain":
                answer({"idle": kizuna.drain_analytics(timeout=float(command.get("timeout", 900)))})
            elif command["cmd"] == "stop":
                break
            else:
                answer({"error": f"unknown command {command['cmd']!r}"})
    return 0


def _message(message: object) -> dict:
    return {
        "sid": message.sid,
        "to": message.to,
        "from": message.from_,
        "url": message.status_callback,
        "status": message.status,
        "error_code": None if message.error_code is None else str(message.error_code),
        "history": list(message.history),
    }


if __name__ == "__main__":
    sys.exit(main())
