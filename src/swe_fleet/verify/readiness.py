"""`fleet verify`'s readiness rows: every check of every service process it is told about.

Each process serves /readyz with its services' checks (ok, degraded, down). The planning and
context APIs are always asked; processes elsewhere (agent workers, the orchestrator) are named with
`--ready-url`. A check that is not ok is ❌ with its own detail as the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from swe_fleet.verify.connections import get_json
from swe_fleet.verify.report import VerifyReport


def readiness_urls(*urls: str | None, extra: Iterable[str] = ()) -> list[str]:
    """Each process once, in the order given."""
    seen = [url.rstrip("/") for url in (*urls, *extra) if url]
    return list(dict.fromkeys(seen))


async def check_readiness(report: VerifyReport, http: httpx.AsyncClient, urls: list[str]) -> None:
    for url in urls:
        status, body, detail = await get_json(http, f"{url}/readyz")
        checks = (body or {}).get("checks") if isinstance(body, dict) else None
        if status is None or not isinstance(checks, dict):
            reason = f"no readiness answer: {detail or f'HTTP {status}'}"
            report.add(
                "readiness",
                url,
                "/readyz answers",
                "-" if status is None else f"HTTP {status}",
                False,
                reason,
            )
            continue
        if not checks:
            report.add("readiness", url, "/readyz answers", "no checks", True)
        for name, check in checks.items():
            state, said = str(check.get("status")), str(check.get("detail", ""))
            ok = state == "ok"
            report.add(
                "readiness",
                name,
                f"ok at {url}",
                f"{state}: {said}",
                ok,
                "" if ok else f"{name} is {state}: {said}",
            )
