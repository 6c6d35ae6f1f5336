"""A report step lands with the smaller sort budget of a process that already holds Dagster and the
download (`IN_STEP_SPILL_BYTES`): the e2e process's peak RSS (issue 24 round 5)."""

from __future__ import annotations

import asyncio
from datetime import date

from assets import bulk_reports
from pipeline.ingest.landing.sink import IN_STEP_SPILL_BYTES, SinkSettings
from pipeline.orchestration.resources import BulkApiResource, LakeResource
from pipeline.reports import report_by_name


class _Log:
    def info(self, _message: str) -> None:
        pass


def test_a_report_step_lands_with_the_in_step_sort_budget(tmp_path, monkeypatch):
    seen = []

    async def fake_load(client, layout, report, licensor, day, **kwargs):
        seen.append(kwargs["options"])
        return "loaded"

    monkeypatch.setattr(bulk_reports, "load_report", fake_load)
    lake = LakeResource(data_dir=str(tmp_path), pseudonymize=True, pseudonym_key="k" * 32, drop_region=True)
    api = BulkApiResource(
        client_id="id",
        client_secret="secret",
        base_url="http://127.0.0.1:9",
        accounts_url="http://127.0.0.1:9",
    )
    streams = report_by_name("streams")
    outcome = asyncio.run(bulk_reports._load(streams, "acme", date(2026, 6, 12), api, lake, _Log()))  # type: ignore[arg-type]

    (options,) = seen
    assert outcome == "loaded"
    assert options.sink.spill_bytes == IN_STEP_SPILL_BYTES < SinkSettings().spill_bytes
    assert options.sink == SinkSettings(spill_bytes=IN_STEP_SPILL_BYTES)  # nothing else of the sink changed
    assert options.privacy == lake.landing_options().privacy  # the lake's own settings kept
