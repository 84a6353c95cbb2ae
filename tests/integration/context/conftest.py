from __future__ import annotations

import uuid

import pytest

from tests.conftest import REDIS_URL
from tests.support.required import require_tcp


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; keys are namespaced by each graph's instance id, so tests never share entries."""
    require_tcp("Redis", REDIS_URL)
    return REDIS_URL


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
