"""The token issuer, verifier, roles and rate limiter as plain objects (no server)."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from swe_fleet.security.api_auth import RateLimiter
from swe_fleet.security.identity import Identity, Role
from swe_fleet.security.secret_files import SecretFileError, read_secret, write_secret
from swe_fleet.security.tokens import LocalIssuer, TokenRefused


def test_the_issuer_key_is_made_once_owner_only_and_tokens_verify(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path / "auth")
    token = issuer.issue("alice", [Role.PRODUCT_OWNER], timedelta(minutes=5))
    assert stat.S_IMODE(issuer.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "auth").stat().st_mode) == 0o700
    again = LocalIssuer(tmp_path / "auth")  # a second process finds the same key
    identity = again.verifier().verify(token)
    assert identity == Identity("alice", frozenset({Role.PRODUCT_OWNER}), "swe-fleet")


def test_a_token_of_another_audience_or_issuer_is_refused(tmp_path: Path) -> None:
    ours = LocalIssuer(tmp_path / "auth")
    other_audience = LocalIssuer(tmp_path / "auth", audience="another-app")
    other_issuer = LocalIssuer(tmp_path / "auth", issuer="someone-else")
    with pytest.raises(TokenRefused, match="audience"):
        ours.verifier().verify(other_audience.issue("a", [Role.VIEWER], timedelta(minutes=1)))
    with pytest.raises(TokenRefused, match="issuer"):
        ours.verifier().verify(other_issuer.issue("a", [Role.VIEWER], timedelta(minutes=1)))


def test_unknown_roles_grant_nothing_and_roles_imply_reading(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path / "auth")
    import jwt

    forged_roles = issuer.issue("bob", [Role.VIEWER], timedelta(minutes=1))
    claims = jwt.decode(forged_roles, options={"verify_signature": False})
    admin = jwt.encode({**claims, "roles": ["admin", "root"]}, issuer.private_key(), algorithm="EdDSA")
    assert issuer.verifier().verify(admin).roles == frozenset()
    po = Identity("p", frozenset({Role.PRODUCT_OWNER}))
    service = Identity("s", frozenset({Role.SERVICE}))
    viewer = Identity("v", frozenset({Role.VIEWER}))
    assert po.has(Role.VIEWER) and service.has(Role.VIEWER)
    assert not viewer.has(Role.PRODUCT_OWNER) and not service.has(Role.PRODUCT_OWNER)
    assert not po.has(Role.SERVICE)


def test_subjects_are_names_not_markup(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path / "auth")
    for bad in ["", "<script>", "a\nb", "x" * 201]:
        with pytest.raises(ValueError):
            issuer.issue(bad, [Role.VIEWER], timedelta(minutes=1))


def test_the_rate_limiter_refills_per_identity() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0
    now[0] = 1.0
    assert limiter.take("a") == 0.0


def test_secret_files_are_exclusive_and_refused_when_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "s" / "token"
    assert write_secret(path, "first") is True
    assert write_secret(path, "second") is False  # the first writer wins
    assert read_secret(path) == "first"
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        read_secret(path)
