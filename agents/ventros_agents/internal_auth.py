"""Authentication of Ventros's internal gRPC calls (the Rust side: `activities/src/internal_auth.rs`).

Every call to this service carries `authorization: Bearer <token>`, minted by the worker (or the
API) with the secret the processes share (`INTERNAL_AUTH_SECRET`). The token names the tenant and,
for a conversation's agent call, the contact; a request about anything else is refused. The same
token goes back on this service's MemoryService calls, so the agents can read exactly the contact
they were asked about and nothing else.

Format: `base64url(claims JSON) "." base64url(HMAC-SHA256(secret, first part))`, claims
`{"t": tenant or null, "c": contact (optional), "exp": unix seconds}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

MIN_SECRET_LEN = 32
METADATA_KEY = "authorization"


class AuthError(Exception):
    """A call without valid credentials (UNAUTHENTICATED) or outside them (PERMISSION_DENIED)."""

    def __init__(self, denied: bool, message: str) -> None:
        super().__init__(message)
        self.denied = denied
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    tenant_id: str | None
    contact_id: str | None
    exp: int

    def allow(self, tenant_id: str, contact_id: str) -> None:
        if self.tenant_id is None or self.tenant_id != tenant_id:
            raise AuthError(True, "the credentials are not for this tenant")
        if self.contact_id is not None and self.contact_id != contact_id:
            raise AuthError(True, "the credentials are for another contact")


class InternalAuth:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LEN:
            raise ValueError(f"INTERNAL_AUTH_SECRET must be at least {MIN_SECRET_LEN} characters")
        self._key = secret.encode()

    @classmethod
    def from_env(cls) -> InternalAuth:
        secret = os.environ.get("INTERNAL_AUTH_SECRET")
        if not secret:
            raise ValueError(
                "INTERNAL_AUTH_SECRET is not set: the worker, the API and the agent service share it "
                f"(at least {MIN_SECRET_LEN} characters)"
            )
        return cls(secret)

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()

    def mint(self, tenant_id: str | None, contact_id: str | None = None, ttl_s: int = 60) -> str:
        claims = {"t": tenant_id, "exp": int(time.time()) + max(1, ttl_s)}
        if contact_id is not None:
            claims["c"] = contact_id
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def verify(self, token: str | None) -> Claims:
        if not token:
            raise AuthError(False, "internal credentials are required")
        try:
            payload, signature = token.split(".", 1)
            valid = hmac.compare_digest(self._sign(payload), _unb64(signature))
            claims = json.loads(_unb64(payload)) if valid else None
        except (ValueError, TypeError):
            claims = None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise AuthError(False, "invalid internal credentials")
        if claims["exp"] < time.time():
            raise AuthError(False, "the internal credentials have expired")
        return Claims(tenant_id=claims.get("t"), contact_id=claims.get("c"), exp=claims["exp"])


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of a call's invocation metadata, if any."""
    for key, value in metadata or ():
        if key == METADATA_KEY and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return None
