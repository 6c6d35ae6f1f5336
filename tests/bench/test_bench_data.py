"""The bench generates its days and lakes in other processes, so no measured child inherits that peak RSS."""

from __future__ import annotations

import json

import pipeline.emulator.cache as emulator_cache
from bench import data
from pipeline.layout import Layout


def not_here(*args, **kwargs):
    raise AssertionError("generated in the bench's own process")


def test_a_day_is_generated_in_another_process_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(emulator_cache, "generate_day", not_here)
    day = data.ensure_day(2000, tmp_path, "zipf")
    assert day.files and all(f.exists() for f in day.files)
    assert day.streams > 0
    assert day.generation_seconds is not None and day.generation_seconds > 0
    timings = json.loads((tmp_path / data.GENERATED).read_text())
    assert list(timings.values()) == [day.generation_seconds]

    again = data.ensure_day(2000, tmp_path, "zipf")  # cached: the timing is not overwritten
    assert again.files == day.files and again.generation_seconds == day.generation_seconds
    assert json.loads((tmp_path / data.GENERATED).read_text()) == timings


def test_a_lake_is_generated_in_another_process(tmp_path, monkeypatch):
    from bench import warehouse
    from tests.kits import bench_lakes

    monkeypatch.setattr(bench_lakes, "generate", not_here)
    dirs = warehouse.prepare_lakes(tmp_path, 200, [2])
    assert (dirs[2] / warehouse.DONE).exists()
    assert warehouse._stream_rows(Layout(dirs[2])) > 0  # the lake's streams table holds rows
