from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.planning.support import StoreTarget, store_target


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StoreTarget]:
    with store_target("sqlite", tmp_path) as target:
        yield target
