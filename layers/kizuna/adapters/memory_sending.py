"""In-memory fakes of the sending ports: a provider for every channel, the rate limiter and the spend ledger."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kizuna.clock import Clock
from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.domain.throttle import Throttle, book, default_rate, wait_estimate


class InMemoryProvider:
    """Records what it 'sent'; `script` maps a destination to exceptions to raise instead (one per attempt).

    `clock` (optional) stamps each send, so tests can check the pacing the rate limiter produced."""

    def __init__(self, clock: Clock | None = None, rate_per_s: float | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.script: dict[str, list[Exception]] = {}
        self.statuses: dict[str, str] = {}
        self.clock = clock
        self.rate_per_s = rate_per_s
        self._lock = threading.Lock()

    def throttle(self, message: OutboundMessage) -> Throttle:
        sender = message.sender.from_number or message.sender.alphanumeric_id or "+15005550006"
        rate = self.rate_per_s or default_rate(message.channel, sender)
        if message.rate_per_s:
            rate = min(rate, message.rate_per_s)
        cost = float(message.segments) if message.channel == "SMS" else 1.0
        return Throttle(f"{message.channel}:{sender}", rate, cost)

    def send(self, message: OutboundMessage, status_callback: str | None) -> ProviderReceipt:
        with self._lock:
            failures = self.script.get(message.to) or []
            if failures:
                raise failures.pop(0)
            sid = f"{'CA' if message.channel == 'VOICE' else 'SM'}{len(self.sent):032x}"
            self.sent.append(
                {
                    "sid": sid,
                    "channel": message.channel,
                    "to": message.to,
                    "body": message.body,
                    "sender": message.sender,
                    "template": message.whatsapp_template,
                    "callback": status_callback,
                    "at": self.clock.now() if self.clock else None,
                }
            )
            self.statuses[sid] = "queued"
            return ProviderReceipt(sid, "queued", message.segments)

    def fetch_status(self, provider_id: str) -> ProviderReceipt:
        return ProviderReceipt(provider_id, self.statuses[provider_id])

    def find_sent(self, message: OutboundMessage, sent_after: datetime | None) -> ProviderReceipt | None:
        match = next((s for s in self.sent if s["to"] == message.to and s["body"] == message.body), None)
        return ProviderReceipt(match["sid"], self.statuses[match["sid"]]) if match else None


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self.tats: dict[str, float] = {}
        self.reservations = 0
        self._lock = threading.Lock()

    def reserve(
        self, key: str, rate_per_s: float, costs: Sequence[float], horizon_s: float, now: datetime
    ) -> tuple[list[float | None], float]:
        with self._lock:
            self.reservations += 1
            at = now.timestamp()
            tat, offsets = book(self.tats.get(key, 0.0), at, rate_per_s, costs, horizon_s)
            self.tats[key] = tat
            return offsets, wait_estimate(tat, at)


class InMemorySpendLedger:
    def __init__(self) -> None:
        self.spent: dict[tuple[str, str, str], float] = {}
        self.conversations: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def try_spend(self, app_id: str, channel: str, day: str, amount_usd: float, cap_usd: float) -> bool:
        with self._lock:
            key = (app_id, channel, day)
            if self.spent.get(key, 0.0) + amount_usd > cap_usd:
                return False
            self.spent[key] = self.spent.get(key, 0.0) + amount_usd
            return True

    def refund(self, app_id: str, channel: str, day: str, amount_usd: float) -> None:
        with self._lock:
            key = (app_id, channel, day)
            self.spent[key] = self.spent.get(key, 0.0) - amount_usd

    def open_conversation(self, sender: str, now: datetime, cap: int) -> bool:
        with self._lock:
            opened = self.conversations.setdefault(sender, [])
            recent = [t for t in opened if (now - t).total_seconds() < 24 * 3600]
            if len(recent) >= cap:
                return False
            self.conversations[sender] = [*recent, now]
            return True


class InMemoryChannelStore:
    def __init__(self) -> None:
        self.channels: dict[str, dict[str, dict[str, Any]]] = {}
        self.policies: dict[str, dict[str, Any]] = {}

    def get_rules(self, app_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        return dict(self.channels.get(app_id, {})), dict(self.policies.get(app_id, {}))

    def put_channel(self, app_id: str, channel: str, doc: dict[str, Any]) -> None:
        self.channels.setdefault(app_id, {})[channel] = doc

    def delete_channel(self, app_id: str, channel: str) -> None:
        self.channels.get(app_id, {}).pop(channel, None)

    def put_policy(self, app_id: str, policy: dict[str, Any]) -> None:
        self.policies[app_id] = policy


class InMemoryConsentStore:
    def __init__(self) -> None:
        self.opt_outs: set[tuple[str, str, str]] = set()
        self.windows: dict[tuple[str, str, str], datetime] = {}

    def opted_out(self, app_id: str, channel: str, addresses: Sequence[str]) -> set[str]:
        return {a for a in addresses if (app_id, channel, a) in self.opt_outs}

    def set_opt_out(self, app_id: str, channels: Sequence[str], address: str, opted_out: bool, now: datetime) -> None:
        for channel in channels:
            if opted_out:
                self.opt_outs.add((app_id, channel, address))
            else:
                self.opt_outs.discard((app_id, channel, address))

    def last_inbound(self, app_id: str, channel: str, addresses: Sequence[str]) -> dict[str, datetime]:
        return {a: self.windows[(app_id, channel, a)] for a in addresses if (app_id, channel, a) in self.windows}

    def record_inbound(self, app_id: str, channel: str, address: str, now: datetime) -> None:
        self.windows[(app_id, channel, address)] = now

    def forget_windows(self, app_id: str, addresses: Sequence[str]) -> None:
        for key in [k for k in self.windows if k[0] == app_id and k[2] in addresses]:
            del self.windows[key]


class InMemoryOtpStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put_otp(self, app_id: str, key: str, record: dict[str, Any], expires_at: datetime) -> None:
        self.records[(app_id, key)] = dict(record)

    def get_otp(self, app_id: str, key: str) -> dict[str, Any] | None:
        record = self.records.get((app_id, key))
        return dict(record) if record else None

    def spend_attempt(self, app_id: str, key: str) -> bool:
        with self._lock:
            record = self.records.get((app_id, key))
            if not record or record["attempts"] <= 0:
                return False
            record["attempts"] -= 1
            return True

    def delete_otp(self, app_id: str, key: str) -> None:
        self.records.pop((app_id, key), None)

    def app_salt(self, app_id: str) -> bytes:
        return f"salt-{app_id}".encode()
