"""Internal credentials: what the Rust side mints, this side verifies, and nothing else."""

import base64
import json
import time

import pytest

from ventros_agents.internal_auth import AuthError, InternalAuth, bearer

AUTH = InternalAuth("0123456789abcdef0123456789abcdef")


def test_a_token_covers_its_tenant_and_contact_only():
    claims = AUTH.verify(AUTH.mint("tenant-a", "contact-1"))
    claims.allow("tenant-a", "contact-1")
    for tenant, contact in [("tenant-b", "contact-1"), ("tenant-a", "contact-2")]:
        with pytest.raises(AuthError) as err:
            claims.allow(tenant, contact)
        assert err.value.denied
    AUTH.verify(AUTH.mint("tenant-a")).allow("tenant-a", "any-contact")


@pytest.mark.parametrize("token", [None, "", "x", "a.b", "not base64.at all"])
def test_garbage_is_unauthenticated(token):
    with pytest.raises(AuthError) as err:
        AUTH.verify(token)
    assert not err.value.denied


def test_forged_and_expired_tokens_are_refused():
    token = AUTH.mint("tenant-a")
    _payload, signature = token.split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps({"t": "tenant-b", "exp": 2**40}).encode()).rstrip(b"=").decode()
    )
    for bad in [f"{forged}.{signature}", InternalAuth("another-secret-another-secret-0123").mint("tenant-a")]:
        with pytest.raises(AuthError):
            AUTH.verify(bad)
    past = (
        base64.urlsafe_b64encode(json.dumps({"t": "tenant-a", "exp": int(time.time()) - 5}).encode())
        .rstrip(b"=")
        .decode()
    )
    expired = past + "." + base64.urlsafe_b64encode(AUTH._sign(past)).rstrip(b"=").decode()
    with pytest.raises(AuthError) as err:
        AUTH.verify(expired)
    assert "expired" in err.value.message
    with pytest.raises(ValueError):
        InternalAuth("short")


def test_the_bearer_is_read_from_metadata():
    assert bearer((("x-other", "1"), ("authorization", "Bearer abc"))) == "abc"
    assert bearer((("authorization", "Basic abc"),)) is None
    assert bearer(None) is None
