"""What every board page shares: templates, the signed-in identity, CSRF checks, and answering refusals.

Templates autoescape everything: text the fleet does not control (titles, briefs, model output) is
always shown as text. Responses carry a Content-Security-Policy that allows only the board's own
scripts, so even a missed escape could not run a script.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from swe_fleet.board.adapters.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_matches,
    csrf_token,
)
from swe_fleet.board.app.ports import Authenticator, Backbone, FleetApi, Refused
from swe_fleet.board.domain import councils, lanes
from swe_fleet.board.domain.identity import Identity, NotAllowed

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PRESESSION_COOKIE = "fleet_board_presession"  # for the sign-in form's CSRF token, before any session

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass
class BoardContext:
    """What the pages are built from (handed in by bootstrap)."""

    api: FleetApi
    backbone: Backbone
    authenticator: Authenticator
    environment: Environment


def template_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,  # a 1,000-card board is about a third smaller without the templates' indentation
        lstrip_blocks=True,
    )
    environment.globals["state_label"] = lanes.label
    environment.globals["diff_lines"] = councils.diff_lines
    return environment


class CsrfRefused(Exception):
    """A change arrived without the CSRF token of its session."""


async def check_csrf(request: Request, session_token: str) -> Mapping[str, Any]:
    """The submitted form, once its CSRF token (field or header) matches the session's."""
    form = await request.form()
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not csrf_matches(session_token, presented if isinstance(presented, str) else None):
        raise CsrfRefused()
    return form


def require_change(identity: Identity, action: str) -> None:
    """The one role check for every change; swapped for the API's own role dependency when it lands."""
    if not identity.may_change:
        raise NotAllowed(identity, action)


def render(
    board: BoardContext,
    request: Request,
    name: str,
    identity: Identity | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    presession = values.pop("presession", None) or request.cookies.get(PRESESSION_COOKIE, "")
    token = identity.token if identity else presession
    html = board.environment.get_template(name).render(
        request=request,
        me=identity,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(token) if token else "",
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    secured(response)
    return response


def secured(response: Response) -> Response:
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def see_other(url: str) -> Response:
    return secured(RedirectResponse(url, status_code=303))


def new_presession() -> str:
    return secrets.token_urlsafe(24)


def refusal_message(error: Refused) -> str:
    if error.status == 409:
        return f"Refused: {error.detail}"
    if error.status == 403:
        return f"Not allowed: {error.detail}"
    return error.detail


def set_session(response: Response, token: str, *, secure: bool) -> None:
    # Secure whenever the board is reached over HTTPS (behind TLS the cookie never travels in clear).
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/", secure=secure)
