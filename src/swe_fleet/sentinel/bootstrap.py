"""Wiring the sentinel service: the backbone's stream sentinels, hosted like any service."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from swe_fleet.backbone.sentinel import build_sentinels
from swe_fleet.host.service import Endpoints, Service
from swe_fleet.settings import FleetSettings


async def build(settings: FleetSettings, nc: NATS, endpoints: Endpoints) -> Service:
    return Service(name="sentinel", consumers=build_sentinels(nc))
