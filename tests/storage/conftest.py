from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.config import ObjectStoreSettings
from tests.kits.object_store import moto_s3


@pytest.fixture(scope="module")
def moto_store() -> Iterator[ObjectStoreSettings]:
    with moto_s3() as store:
        yield store
