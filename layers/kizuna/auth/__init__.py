"""Authentication: SigV4 verification and Kizuna-issued access keys."""

from kizuna.auth.access_keys import (
    AccessKey,
    AccessKeyStore,
    CachedSecretLookup,
    InMemoryAccessKeyStore,
    KeyStatus,
    authorize,
    create_access_key,
)
from kizuna.auth.sigv4 import SignedRequest, VerifiedCaller, verify_request

__all__ = [
    "AccessKey",
    "AccessKeyStore",
    "CachedSecretLookup",
    "InMemoryAccessKeyStore",
    "KeyStatus",
    "SignedRequest",
    "VerifiedCaller",
    "authorize",
    "create_access_key",
    "verify_request",
]
