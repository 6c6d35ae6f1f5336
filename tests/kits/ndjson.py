"""Synthetic Bulk API records and gzip NDJSON files for landing tests and the landing benchmark."""

from __future__ import annotations

import gzip
import json
import random
import string
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_B62 = string.ascii_letters + string.digits
SOURCES = ["album", "artist", "collection", "others_playlist", "own_playlist", "chart", "radio", "search"]
DEVICES = [("smartphone", "ios"), ("smartphone", "android"), ("desktop", "windows"), ("tablet", "ios")]


def b62(rng: random.Random, n: int = 22) -> str:
    return "".join(rng.choices(_B62, k=n))


def stream_records(
    rows: int, *, seed: int = 7, country: str = "US", day: str = "2026-11-20"
) -> Iterator[dict]:
    """Streams-report records: `rows` of them, deterministic for a seed."""
    rng = random.Random(seed)
    tracks = [b62(rng) for _ in range(max(rows // 50, 10))]
    users = [f"{rng.getrandbits(128):032x}" for _ in range(max(rows // 20, 10))]
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    for i in range(rows):
        device, os_name = rng.choice(DEVICES)
        source = rng.choice(SOURCES)
        ts = start + timedelta(microseconds=rng.randrange(86_400 * 1_000_000))
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if i % 3 else ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        yield {
            "timestamp": stamp,
            "user_id": rng.choice(users),
            "track_id": tracks[min(int(rng.paretovariate(1.2)) - 1, len(tracks) - 1)],
            "isrc": f"US{rng.randrange(10**10):010d}",
            "country": country,
            "region_code": f"{country}-{rng.choice(['CA', 'NY', 'TX', 'WA'])}",
            "source": source,
            "source_uri": f"spotify:playlist:{b62(rng)}" if source.endswith("playlist") else "",
            "stream_length": rng.randrange(30_000, 400_000),
            "device_type": device,
            "os": os_name,
            "access": rng.choice(["free", "premium"]),
            "cached": rng.random() < 0.2,
            "shuffle": rng.random() < 0.5,
            "offline": rng.random() < 0.05,
            "completion": rng.random() < 0.7,
            "discovery": rng.random() < 0.1,
        }


def dumps(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def write_lines(path: Path, lines: Iterable[str | bytes], *, level: int = 6) -> Path:
    """Write lines (already serialized) as gzip NDJSON, one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=level) as fh:
        for line in lines:
            fh.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def write_records(path: Path, records: Iterable[Any], *, level: int = 6) -> Path:
    return write_lines(path, (dumps(r) for r in records), level=level)


def write_big_streams(path: Path, rows: int, *, seed: int = 7, level: int = 6) -> Path:
    """A large streams file for the benchmark, written in chunks to keep the generator's memory low."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=level) as fh:
        batch: list[str] = []
        for record in stream_records(rows, seed=seed):
            batch.append(dumps(record))
            if len(batch) >= 50_000:
                fh.write(("\n".join(batch) + "\n").encode())
                batch = []
        if batch:
            fh.write(("\n".join(batch) + "\n").encode())
    return path
