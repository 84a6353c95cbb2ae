"""The composition root: every registered service has the one `build` shape, and `fleet up` picks by LLM."""

from __future__ import annotations

import inspect

import pytest

from swe_fleet.composition import SERVICES, UnknownService, registered, services_for_up
from swe_fleet.host.service import Endpoints
from swe_fleet.settings import FleetSettings


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_registered_service_builds_from_settings_nc_and_endpoints(name: str) -> None:
    build = registered(name).build_function()
    assert inspect.iscoroutinefunction(build), f"{name}: build must be async"
    parameters = list(inspect.signature(build).parameters.values())
    assert [p.name for p in parameters[:3]] == ["settings", "nc", "endpoints"]
    # Anything after the three is a keyword-only test seam with a default: the registry passes three.
    for extra in parameters[3:]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY and extra.default is not inspect.Parameter.empty


def test_an_unknown_name_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(UnknownService, match="unknown service 'billing': choose one of planning, context"):
        registered("billing")


def test_fleet_up_runs_the_llm_dependent_services_only_with_an_llm() -> None:
    endpoints = Endpoints.from_settings(FleetSettings(llm_url=None))
    assert services_for_up(endpoints) == ["planning", "context", "sentinel", "board"]
    endpoints.llm_url = "http://127.0.0.1:1"
    assert services_for_up(endpoints) == list(SERVICES)


def test_endpoints_from_settings_are_the_settings_urls(tmp_path) -> None:
    settings = FleetSettings(
        data_dir=tmp_path, nats_url="nats://n:1", valkey_url="redis://v:2", llm_url="http://l:3"
    )
    endpoints = Endpoints.from_settings(settings)
    assert (endpoints.nats_url, endpoints.valkey_url, endpoints.llm_url) == (
        "nats://n:1",
        "redis://v:2",
        "http://l:3",
    )
    assert endpoints.graph_url == f"ladybug://{(tmp_path / 'graph' / 'fleet.lbug').resolve()}"
    assert endpoints.embedded == {}
