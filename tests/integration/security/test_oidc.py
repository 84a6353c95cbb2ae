"""Tokens from an OIDC provider: verified against its JWKS, served by a real HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from swe_fleet.security.identity import Role
from swe_fleet.security.tokens import TokenRefused, TokenVerifier

ISSUER = "https://login.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks", key
    server.shutdown()


def _token(key, **claims: object) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "swe-fleet", "sub": "ana@example", "iat": now, "exp": now + 300}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_provider_token_is_verified_against_its_jwks(provider) -> None:
    url, key = provider
    verifier = TokenVerifier(
        issuer=ISSUER, audience="swe-fleet", roles_claim="groups", algorithms=["RS256"], jwks_url=url
    )
    identity = verifier.verify(_token(key, groups=["product_owner", "staff"]))
    assert (identity.subject, identity.roles) == ("ana@example", frozenset({Role.PRODUCT_OWNER}))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenRefused, match="signature"):
        verifier.verify(_token(other, groups=["product_owner"]))
    with pytest.raises(TokenRefused, match="issuer"):
        verifier.verify(_token(key, iss="https://evil.example"))
    with pytest.raises(TokenRefused, match="expired"):
        verifier.verify(_token(key, exp=int(time.time()) - 3600))
