"""The load ledger is advisory, but never silent: a record it cannot write or read is reported."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from pipeline.ingest.ledger import LoadRecord, read_records, record_path, write_record
from pipeline.layout import Layout

DAY = date(2026, 6, 10)
AT = datetime(2026, 6, 11, 6, 0, tzinfo=UTC)


def test_a_record_that_cannot_be_written_is_reported_and_the_load_goes_on(tmp_path, caplog):
    layout = Layout(tmp_path / "data")
    layout.data_dir.mkdir(parents=True)
    (layout.data_dir / "ledger").write_text("a file where the ledger directory should be")
    with caplog.at_level(logging.WARNING, logger="pipeline.ingest.ledger"):
        write_record(layout, LoadRecord("streams", "acme", DAY, "loaded", AT, rows=3))  # does not raise
    (warning,) = caplog.records
    assert "could not record streams acme 2026-06-10 as loaded" in warning.getMessage()
    assert "spotify-bulk status" in warning.getMessage()


def test_an_unreadable_record_is_reported_by_path_and_the_others_are_read(tmp_path, caplog):
    layout = Layout(tmp_path / "data")
    layout.data_dir.mkdir(parents=True)
    write_record(layout, LoadRecord("streams", "acme", DAY, "loaded", AT, rows=3))
    broken = record_path(layout, "users", "acme", DAY)
    broken.parent.mkdir(parents=True)
    broken.write_text('{"report": "users", "state": ')  # cut mid-write by something else
    with caplog.at_level(logging.WARNING, logger="pipeline.ingest.ledger"):
        records = read_records(layout)
    assert list(records) == [("streams", "acme", DAY)]
    (warning,) = caplog.records
    assert str(broken) in warning.getMessage() and "re-load that day" in warning.getMessage()
