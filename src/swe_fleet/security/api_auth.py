"""HTTP API protection for FastAPI: bearer authentication, roles, per-identity rate limits, headers, CORS.

For route authors (planning, context, the board):

    from swe_fleet.security.api_auth import require_role
    from swe_fleet.security.client_token import PO_TOKEN_FILE, SERVICE_TOKEN_FILE
from swe_fleet.security.identity import Identity, Role

    @router.post("/plans/{plan_id}/approve")
    async def approve(..., who: Identity = Depends(require_role(Role.PRODUCT_OWNER))):
        ... by=who.subject ...        # the authenticated identity is the actor, never the body

`require_role(*roles)` admits an identity holding any of the roles (or a role that implies one:
a product owner and a service are also viewers); it answers 401 without a valid token, 403 with a
token that lacks the role, 429 past the identity's rate limit. The host (`host.runner.build_app`)
puts `authenticated` on every service router, so a route without `require_role` still needs a token;
only /healthz, /readyz and the OpenAPI document are public.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from swe_fleet.security.client_token import PO_TOKEN_FILE, SERVICE_TOKEN_FILE
from swe_fleet.security.identity import Identity, Role
from swe_fleet.security.tokens import LocalIssuer, TokenRefused, TokenVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_TOKEN_TTL = timedelta(days=365)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A JWT from the fleet's issuer (`fleet token`) or the configured OIDC provider",
)

# Documented on every protected operation (clients and fuzzers learn these answers from the document).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token (missing, malformed, expired, badly signed, wrong issuer)"},
    403: {"description": "The token's identity lacks the role this operation needs"},
    429: {"description": "This identity's rate limit is spent; retry after the Retry-After seconds"},
}

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    # Scripts, styles and images from this origin only (the board ships its own, no CDN); Swagger's
    # /docs page loads from a CDN and is the one page given a wider policy (DOCS_CSP).
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
]
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class RateLimiter:
    """A token bucket per identity: `burst` requests at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, who: str) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        now = self.clock()
        tokens, last = self._buckets.get(who, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[who] = (tokens - 1.0, now)
            return 0.0
        self._buckets[who] = (tokens, now)
        return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


@dataclass
class HttpAuth:
    """What the host needs to protect an API: how to verify tokens, the rate limits, allowed origins."""

    verifier: TokenVerifier | None  # None: no token is valid (every protected route answers 401)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(per_minute=600, burst=120))
    cors_origins: list[str] = field(default_factory=list)

    @classmethod
    def deny_all(cls) -> HttpAuth:
        return cls(verifier=None)

    @classmethod
    def from_settings(cls, settings: Any) -> HttpAuth:
        """OIDC when FLEET_AUTH_JWKS_URL is set, else the fleet's own issuer (key made on first start)."""
        if settings.auth_jwks_url:
            verifier = TokenVerifier(
                issuer=settings.auth_issuer,
                audience=settings.auth_audience,
                roles_claim=settings.auth_roles_claim,
                algorithms=["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
                jwks_url=settings.auth_jwks_url,
            )
        else:
            verifier = local_issuer(settings).verifier(settings.auth_roles_claim)
        limiter = RateLimiter(settings.api_rate_per_minute, settings.api_rate_burst)
        return cls(verifier=verifier, limiter=limiter, cors_origins=list(settings.cors_origins))

    async def identify(self, token: str) -> Identity:
        if self.verifier is None:
            raise TokenRefused("this server accepts no tokens (no issuer configured)")
        if self.verifier.fetches_keys:
            return await asyncio.to_thread(self.verifier.verify, token)
        return self.verifier.verify(token)


def local_issuer(settings: Any) -> LocalIssuer:
    return LocalIssuer(
        settings.data_dir / "auth", issuer=settings.auth_issuer, audience=settings.auth_audience
    )


def ensure_local_tokens(settings: Any) -> Path:
    """First start of the embedded fleet: the PO's and the in-process services' tokens; the PO's path."""
    issuer = local_issuer(settings)
    issuer.ensure_token_file(SERVICE_TOKEN_FILE, "fleet-services", [Role.SERVICE], LOCAL_TOKEN_TTL)
    return issuer.ensure_token_file(PO_TOKEN_FILE, "product-owner", [Role.PRODUCT_OWNER], LOCAL_TOKEN_TTL)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Identity:
    """The request's identity (401 without a valid bearer token; 429 past its rate limit)."""
    cached = getattr(request.state, "identity", None)
    if isinstance(cached, Identity):
        return cached
    auth: HttpAuth = getattr(request.app.state, "auth", None) or HttpAuth.deny_all()
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            401,
            "a bearer token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        identity = await auth.identify(credentials.credentials)
    except TokenRefused as refused:
        raise _refuse(str(refused)) from None
    wait = auth.limiter.take(identity.subject)
    if wait > 0:
        raise HTTPException(
            429,
            f"rate limit for {identity.subject} reached; retry in {wait:.1f}s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    request.state.identity = identity
    return identity


def require_role(*roles: Role) -> Callable[..., Awaitable[Identity]]:
    """A FastAPI dependency: the identity, if it holds one of `roles` (403 otherwise)."""
    if not roles:
        raise ValueError("require_role needs at least one role")

    async def role_holder(identity: Identity = Depends(authenticated)) -> Identity:
        if not identity.has_any(roles):
            wanted = " or ".join(role.value for role in roles)
            raise HTTPException(403, f"{identity.subject} may not do this: it needs the role {wanted}")
        return identity

    role_holder.__name__ = f"require_{'_or_'.join(role.value for role in roles)}"
    return role_holder


class SecurityHeaders:
    """Adds the security headers to every answer (and no-store to every API answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in present:
                        headers.append(
                            (
                                name,
                                DOCS_CSP
                                if path in ("/docs", "/redoc") and name == b"content-security-policy"
                                else value,
                            )
                        )
                if path.startswith("/v1/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def protect(app: FastAPI, auth: HttpAuth) -> None:
    """Install the auth configuration, the headers and (only if origins are configured) CORS."""
    app.state.auth = auth
    if auth.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=auth.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-Match"],
            expose_headers=["ETag", "Retry-After"],
        )
    app.add_middleware(SecurityHeaders)
