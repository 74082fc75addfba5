"""Dashboard links: a browser cannot sign requests with SigV4, so the dashboard takes a short-lived token that a
Kizuna access key signs, like an S3 presigned URL. `kizuna analytics dashboard-url` mints one offline with the
key's secret; the dashboard verifies it against the same key (which must still be active and allowed the app).

Token: `kzd1.<access key id>.<app id>.<expiry epoch s>.<signature>`, the signature being HMAC-SHA256 over the rest
with a key derived from the secret (so the secret itself never signs anything else here). The dashboard swaps the
token for an HttpOnly cookie scoped to the app's dashboard path and redirects, so the token leaves the address bar
and the browser history at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime

from kizuna.auth.access_keys import AccessKey, authorize
from kizuna.errors import Forbidden

PREFIX = "kzd1"
MAX_LIFETIME_S = 12 * 3600
DEFAULT_LIFETIME_S = 3600
_SHAPE = re.compile(r"^kzd1\.([A-Z0-9]{16,128})\.([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def _signature(secret: str, payload: str) -> str:
    signing_key = hmac.new(secret.encode(), b"kizuna-dashboard-v1", hashlib.sha256).digest()
    digest = hmac.new(signing_key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint(access_key_id: str, secret: str, app_id: str, expires_at: int) -> str:
    payload = f"{PREFIX}.{access_key_id}.{app_id}.{expires_at}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(
    token: str,
    app_id: str,
    now: datetime,
    secret_for: Callable[[str], str | None],
    key_for: Callable[[str], AccessKey | None],
) -> AccessKey:
    """The key that signed a valid, unexpired token for `app_id`; Forbidden (never saying which check failed)."""
    match = _SHAPE.match(token or "")
    if not match:
        raise Forbidden("The dashboard link is not valid")
    key_id, token_app, expiry, signature = match.groups()
    expires_at = int(expiry)
    if token_app != app_id or expires_at < now.timestamp() or expires_at > now.timestamp() + MAX_LIFETIME_S:
        raise Forbidden("The dashboard link is not valid or has expired")
    secret = secret_for(key_id)
    expected = _signature(secret or "", token.rsplit(".", 1)[0])
    if secret is None or not hmac.compare_digest(expected, signature):
        raise Forbidden("The dashboard link is not valid")
    key = key_for(key_id)
    if key is None:
        raise Forbidden("The dashboard link is not valid")
    authorize(key, app_id)
    return key
