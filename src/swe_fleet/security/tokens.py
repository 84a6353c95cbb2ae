"""Bearer tokens for the HTTP API: signed JWTs, verified with PyJWT (ADR 0800).

Two issuers are supported. The fleet's own (the embedded default): an Ed25519 key made on first
start under `<data dir>/auth/` (0600), which signs the Product Owner's and the services' tokens.
Or an OIDC provider: tokens are verified against its JWKS (`FLEET_AUTH_JWKS_URL`), its issuer
(`FLEET_AUTH_ISSUER`) and our audience. Either way the algorithm is pinned (never `none`, never a
shared-secret HMAC), and `exp`, `iat`, `iss`, `aud` and `sub` are required.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swe_fleet.security.identity import Identity, Role
from swe_fleet.security.secret_files import read_secret, write_secret

LOCAL_ISSUER = "swe-fleet"
AUDIENCE = "swe-fleet"
LOCAL_ALGORITHMS = ["EdDSA"]
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@+-]{0,199}$")


class TokenRefused(Exception):
    """A token that proves nothing: missing, malformed, badly signed, expired, or from another issuer."""


@dataclass
class LocalIssuer:
    """The fleet's own issuer: its Ed25519 key lives in `key_dir/issuer.key`, created on first use."""

    key_dir: Path
    issuer: str = LOCAL_ISSUER
    audience: str = AUDIENCE
    _key: Ed25519PrivateKey | None = field(default=None, repr=False)

    @property
    def key_file(self) -> Path:
        return self.key_dir / "issuer.key"

    def private_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            if not self.key_file.exists():
                pem = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                write_secret(self.key_file, pem)  # loses a race quietly: the other process's key is read
            loaded = serialization.load_pem_private_key(read_secret(self.key_file).encode(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise TokenRefused(f"{self.key_file} is not an Ed25519 private key")
            self._key = loaded
        return self._key

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key().public_key()

    def issue(self, subject: str, roles: Iterable[Role], ttl: timedelta) -> str:
        if not SUBJECT.match(subject):
            raise ValueError(f"{subject!r} is not a valid subject: letters, digits and ._:@+- (max 200)")
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "roles": sorted(Role(role).value for role in roles),
            "iat": now,
            "nbf": now - timedelta(seconds=1),
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private_key(), algorithm="EdDSA")

    def ensure_token_file(self, name: str, subject: str, roles: Iterable[Role], ttl: timedelta) -> Path:
        """`key_dir/<name>`: a token kept for a local client (the PO's CLI, the in-process services)."""
        path = self.key_dir / name
        if not path.exists():
            write_secret(path, self.issue(subject, roles, ttl) + "\n")
        return path

    def verifier(self, roles_claim: str = "roles") -> TokenVerifier:
        return TokenVerifier(
            issuer=self.issuer,
            audience=self.audience,
            roles_claim=roles_claim,
            algorithms=LOCAL_ALGORITHMS,
            key=self.public_key(),
        )


@dataclass
class TokenVerifier:
    """Checks a bearer token and returns who it names; raises TokenRefused with a reason otherwise."""

    issuer: str
    audience: str
    roles_claim: str = "roles"
    algorithms: list[str] = field(default_factory=lambda: list(LOCAL_ALGORITHMS))
    key: Any = None  # a public key (the local issuer); or None with a JWKS URL
    jwks_url: str | None = None
    leeway_seconds: float = 30.0
    _jwks: jwt.PyJWKClient | None = field(default=None, repr=False)

    @property
    def fetches_keys(self) -> bool:
        """True when verifying may fetch the issuer's JWKS over the network (call it off the loop)."""
        return self.key is None

    def verify(self, token: str) -> Identity:
        try:
            key = self.key if self.key is not None else self._signing_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenRefused(f"the token is not valid: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not SUBJECT.match(subject):
            raise TokenRefused("the token names no valid subject")
        return Identity(subject=subject, roles=_roles(claims.get(self.roles_claim)), issuer=self.issuer)

    def _signing_key(self, token: str) -> Any:
        if self.jwks_url is None:
            raise TokenRefused("no key to verify tokens with (set FLEET_AUTH_JWKS_URL)")
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300, timeout=10)
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as error:
            raise TokenRefused(f"the issuer's keys cannot be fetched: {error}") from None


def _roles(value: Any) -> frozenset[Role]:
    """Known roles in the claim (a list, or a space-separated string); unknown ones grant nothing."""
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(
        Role(name) for name in names if isinstance(name, str) and name in Role._value2member_map_
    )
