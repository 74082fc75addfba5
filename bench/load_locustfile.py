"""Locust users for the bounded load run on local mode, and the runner bench/load_api.py starts in a process of
its own for each scenario (locust's library API; gevent patches this process only):

    KIZUNA_LOAD_CONFIG=run.json KIZUNA_LOAD_LEDGER=ledger.json \
        python bench/load_locustfile.py --users 8 --seconds 20 --stats stats.json PutEventsUser

(`locust -f bench/load_locustfile.py --headless ...` runs the same users and writes the ledger when it quits.)
The runner starts every user at once, stops them after `--seconds` letting each finish the task it is in, and
writes locust's statistics per request name: so every answered request is both in the statistics and the ledger.

Each user sends as fast as it is answered (no think time). What every request tried and what its answer
acknowledged goes into a ledger, written when locust quits, that bench/load_check.py holds against what the
system stored: each attempt is noted before it is sent, so a request cut off at the end of the run (or a timeout)
counts as "maybe written", never as acknowledged.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_requests import (  # noqa: E402
    SEQ_ATTRIBUTE,
    LoadLedger,
    PinpointSigner,
    Prepared,
    accepted_events,
    put_events_params,
    status_callback,
    status_callback_params,
    update_endpoint_params,
)

CONFIG: dict[str, Any] = json.loads(Path(os.environ["KIZUNA_LOAD_CONFIG"]).read_text())
RUN = CONFIG["run"]
LEDGER = LoadLedger()
_user_numbers = itertools.count()
_messages: list[dict[str, Any]] = list(reversed(CONFIG.get("messages", [])))  # popped in order
_settled: list[dict[str, Any]] = []  # messages whose callbacks were all posted: replayed once the pool is empty


@events.quitting.add_listener
def _write_ledger(environment: Any, **_: Any) -> None:
    Path(os.environ["KIZUNA_LOAD_LEDGER"]).write_text(json.dumps(LEDGER.to_json(), ensure_ascii=False))


class _KizunaUser(FastHttpUser):
    abstract = True
    host = CONFIG["base_url"]
    wait_time = constant(0)
    # Local mode answers slowly under load; a request not answered in this long is recorded as "no answer".
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        self.sent = 0
        self.signer = PinpointSigner(
            CONFIG["base_url"], CONFIG["region"], CONFIG["access_key_id"], CONFIG["secret_access_key"]
        )

    def send(self, name: str, prepared: Prepared) -> tuple[int | None, Any]:
        """Send; answers other than 2xx and 429 (throttling, which a client retries) are failures in locust's
        stats too. Returns the HTTP status (None: no answer) and the response."""
        with self.client.request(
            prepared.method, prepared.path, data=prepared.body, headers=prepared.headers, name=name,
            catch_response=True,
        ) as response:  # fmt: skip
            status = response.status_code or None
            if status == 429:
                response.success()
            elif status is None or status >= 300:
                response.failure(f"HTTP {status}: {(response.text or '')[:200]}")
            LEDGER.outcome(name, status, "" if status and status < 300 else f"{response.text or response.error}")
            return status, response


class PutEventsUser(_KizunaUser):
    """PutEvents: `events_per_request` events spread over `endpoints_per_request` of the app's endpoints."""

    @task
    def put_events(self) -> None:
        self.sent += 1
        endpoints = random.sample(CONFIG["event_endpoints"], CONFIG["endpoints_per_request"])
        per_endpoint = CONFIG["events_per_request"] // len(endpoints)
        batch = {
            e: [f"load-{RUN}-{self.number}-{self.sent}-{i}-{k}" for k in range(per_endpoint)]
            for i, e in enumerate(endpoints)
        }
        prepared = self.signer.prepare("PutEvents", put_events_params(CONFIG["app_id"], batch))
        status, response = self.send("PutEvents", prepared)
        answered = status is not None and 200 <= status < 300
        try:
            accepted = accepted_events(response.json()) if answered else {}
        except ValueError:  # a 2xx without the per-event results acknowledges none of them
            accepted = {}
        refused = LEDGER.events_answered(batch, accepted)
        if answered and refused:  # the request was taken but some of its events were not
            LEDGER.outcome("PutEvents (event)", 500, f"{refused} events of a 2xx answer not answered 202")


class UpdateEndpointUser(_KizunaUser):
    """UpdateEndpoint upserts of a few endpoints that every user of the run writes (the first write creates), each
    user to an attribute of its own: every user's last acknowledged value must be there afterwards, whatever the
    others wrote to the same endpoint meanwhile."""

    @task
    def update_endpoint(self) -> None:
        self.sent += 1
        slot = self.sent % CONFIG["shared_endpoints"]
        endpoint_id, address = f"up-{RUN}-{slot}", f"+8180{slot:08d}"
        attribute, seq = f"{SEQ_ATTRIBUTE}_{self.number}", f"{RUN}-{self.number}-{self.sent}"
        params = update_endpoint_params(CONFIG["app_id"], endpoint_id, address, attribute, seq)
        attempt = LEDGER.endpoint_write(endpoint_id, attribute, seq)
        attempt[2], _ = self.send("UpdateEndpoint", self.signer.prepare("UpdateEndpoint", params))


class StatusWebhookUser(_KizunaUser):
    """Twilio status callbacks for messages that exist: queued → sent → final as the sandbox settled each, with a
    late `sent` after the final status for one message in five and a replayed final status for another one in
    five; once every message's callbacks are posted, replays of final statuses (Twilio retrying)."""

    @task
    def post_callbacks(self) -> None:
        if not _messages:
            if _settled:
                message = random.choice(_settled)
                self._post(message, message["final"], message.get("error_code"))
            else:
                self.stop()
            return
        message = _messages.pop()
        index = int(message["index"])
        self._post(message, "queued")
        self._post(message, "sent")
        self._post(message, message["final"], message.get("error_code"))
        if index % 5 == 0:
            self._post(message, "sent")
        elif index % 5 == 1:
            self._post(message, message["final"], message.get("error_code"))
        _settled.append(message)

    def _post(self, message: dict[str, Any], status: str, error_code: str | None = None) -> None:
        params = status_callback_params(
            CONFIG["account_sid"], message["sid"], message["from"], message["to"], status, error_code
        )
        attempt = LEDGER.callback(message["message_id"], status, error_code)
        attempt[2], _ = self.send("status webhook", status_callback(message["url"], params, CONFIG["auth_token"]))


STOP_TIMEOUT_S = 60.0  # a user finishes the task it is in (a webhook user: one message's callbacks)
PERCENTILES = (0.5, 0.95, 0.99, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one bounded locust run; writes its statistics and ledger")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--stats", required=True, help="JSON file for locust's statistics per request name")
    parser.add_argument("classes", nargs="+", choices=["PutEventsUser", "UpdateEndpointUser", "StatusWebhookUser"])
    args = parser.parse_args(argv)
    env = Environment(user_classes=[globals()[c] for c in args.classes], stop_timeout=STOP_TIMEOUT_S)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(args.users, spawn_rate=args.users)
    gevent.sleep(args.seconds)
    runner.stop()
    seconds = time.monotonic() - started
    stats = {
        name: {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / seconds,
            **{f"p{round(q * 100)}": entry.get_response_time_percentile(q) for q in PERCENTILES},
        }
        for (name, _), entry in env.stats.entries.items()
    }
    Path(args.stats).write_text(json.dumps({"seconds": seconds, "users": args.users, "stats": stats}))
    _write_ledger(env)
    runner.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
