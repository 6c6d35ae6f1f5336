"""A load sets landing's allocator up before its download starts: the download's threads then share
landing's one glibc heap instead of leaving heaps of their own, half free, beside it (issue 24 round 5:
the e2e process's peak RSS)."""

from __future__ import annotations

import contextlib

from pipeline.ingest import load as load_module
from pipeline.layout import Layout
from tests.clients.test_check_once import GOOD, ROWS, load, serve_day


def test_the_allocator_is_set_before_the_download_starts(api, make_client, tmp_path, monkeypatch):
    happened: list[str] = []
    real_stage = load_module.stage_partition
    real_settle = load_module.return_freed_memory

    @contextlib.asynccontextmanager
    async def staged(*args, **kwargs):
        happened.append("download")
        async with real_stage(*args, **kwargs) as partition:
            yield partition

    def settle() -> None:
        happened.append("allocator")
        real_settle()

    monkeypatch.setattr(load_module, "stage_partition", staged)
    monkeypatch.setattr(load_module, "return_freed_memory", settle)
    serve_day(api, [GOOD["US"]])
    outcome = load(make_client, Layout(tmp_path / "data"), [])

    assert outcome.landing is not None and outcome.landing.tables[0].rows == ROWS * 2
    assert happened == ["allocator", "download"]
