"""Day generation and the disk cache, without HTTP."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import threading
from datetime import date

import pytest

import pipeline.emulator.cache as cache_module
from pipeline.emulator.cache import DayCache
from pipeline.emulator.catalog import build_catalog, stable_seed
from pipeline.emulator.content import mutator
from pipeline.emulator.faults import Fault
from pipeline.emulator.generate import DaySpec, generate_day

SPEC = DaySpec(seed=42, licensor="acme", day=date(2026, 11, 20), rows_per_day=3000)


def test_stable_seed_is_sha256_not_hash():
    digest = hashlib.sha256(b"42\x1facme\x1fcatalog").digest()
    assert stable_seed(42, "acme", "catalog") == int.from_bytes(digest[:8], "big")
    assert build_catalog(42, "acme").tracks[0] == build_catalog(42, "acme").tracks[0]
    assert build_catalog(42, "acme").tracks[0].id != build_catalog(42, "globex").tracks[0].id


def test_generation_is_byte_identical_with_a_fixed_gzip_header(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    manifest = generate_day(SPEC, first)
    assert generate_day(SPEC, second) == manifest
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert (
        len(names)
        == len(manifest["countries"]["streams"]) + len(manifest["countries"]["sub_30_sec_streams"]) + 3
    )
    for name in names:
        data = (first / name).read_bytes()
        assert data == (second / name).read_bytes(), name
        assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags (no file name)
        assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0
        assert gzip.decompress(data).endswith(b"}\n")
    assert manifest["expected"]["streams"] + manifest["expected"]["sub30_streams"] == 3000


def test_multi_chunk_days_stay_in_time_order(tmp_path):
    spec = DaySpec(seed=1, licensor="globex", day=date(2026, 11, 20), rows_per_day=70_000)
    manifest = generate_day(spec, tmp_path)
    assert manifest["expected"]["streams"] + manifest["expected"]["sub30_streams"] == 70_000
    lines = gzip.decompress((tmp_path / "streams_US.json.gz").read_bytes()).splitlines()
    stamps = [line[14:34] for line in lines]
    assert stamps == sorted(stamps) and stamps[0] < b"2026-11-20T01" and stamps[-1] > b"2026-11-20T23"


def test_content_faults_do_not_depend_on_batch_boundaries():
    mutate = mutator((Fault.parse("malformed:lines=4"), Fault.parse("drift_type:lines=4")))
    assert mutate is not None
    lines = [f'{{"stream_length":{i},"region_code":"US-CA"}}\n' for i in range(25)]
    whole = mutate("streams", list(lines), 0)
    pieces = (
        mutate("streams", lines[:3], 0) + mutate("streams", lines[3:9], 3) + mutate("streams", lines[9:], 9)
    )
    assert whole == pieces
    changed = [i for i, (a, b) in enumerate(zip(lines, whole, strict=True)) if a != b]
    assert changed == [1, 6, 11, 16]
    assert mutator(()) is None


def test_a_day_is_generated_once_under_concurrency_and_reused_from_disk(tmp_path):
    cache = DayCache(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(SPEC))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.generated == 1
    assert len({r.path for r in results}) == 1
    fresh = DayCache(tmp_path)  # another process, same directory
    assert fresh.get(SPEC).expected == results[0].expected
    assert fresh.generated == 0
    faulty = cache.get(SPEC, (Fault.parse("malformed"),))
    assert faulty.path != results[0].path and cache.generated == 2
    assert not [p for p in faulty.path.parent.iterdir() if p.name.startswith(".tmp")]


def test_a_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(spec, out_dir, mutate=None):
        (out_dir / "streams_US.json.gz").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(cache_module, "generate_day", boom)
    with pytest.raises(RuntimeError):
        DayCache(tmp_path).get(SPEC)
    day_dir = tmp_path / "acme" / "2026-11-20"
    assert list(day_dir.iterdir()) == []


def test_identical_in_another_process_with_another_hash_seed(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    generate_day(SPEC, here)
    code = (
        "import sys; from datetime import date; from pathlib import Path;"
        "from pipeline.emulator.generate import DaySpec, generate_day;"
        "generate_day(DaySpec(42, 'acme', date(2026, 11, 20), 3000), Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(there)], check=True, env=env, timeout=120)
    names = sorted(p.name for p in here.iterdir())
    assert names == sorted(p.name for p in there.iterdir())
    assert all((here / n).read_bytes() == (there / n).read_bytes() for n in names)


def test_warm_generates_days_ahead_in_worker_processes(make_emulator):
    emu = make_emulator(rows_per_day=300)
    days = [date(2026, 11, 19), date(2026, 11, 20)]
    emu.warm(days, processes=2)
    assert emu.cache.generated == 0  # the workers generated them
    for licensor in emu.config.licensors:
        for day in days:
            assert emu.expected(licensor, day)["streams"] > 0
    assert emu.cache.generated == 0
    emu.warm([date(2026, 11, 18)], ["acme"])  # in-process
    assert emu.cache.generated == 1
