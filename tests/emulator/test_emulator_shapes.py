"""Shaped days (zipf, single file), generated column-wise: deterministic, shaped, faithful, landable."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.generate import DaySpec, file_name, generate_day
from pipeline.emulator.vectorized import SINGLE_FILE, zipf_shares
from pipeline.ingest.landing import land_partition
from pipeline.layout import Layout
from pipeline.reports import REPORTS

DAY = date(2026, 11, 20)
ZIPF = DaySpec(seed=42, licensor="acme", day=DAY, rows_per_day=20_000, day_shape="zipf")


@pytest.fixture(scope="module")
def zipf_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("zipf")
    return out, generate_day(ZIPF, out)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_a_shaped_day_is_byte_identical_for_its_spec_and_differs_for_another(zipf_day, tmp_path):
    first, manifest = zipf_day
    (tmp_path / "again").mkdir()
    assert generate_day(ZIPF, tmp_path / "again") == manifest
    for path in first.iterdir():
        assert path.read_bytes() == (tmp_path / "again" / path.name).read_bytes(), path.name
    other = tmp_path / "other"
    other.mkdir()
    generate_day(replace(ZIPF, seed=7), other)
    assert (other / "streams_US.json.gz").read_bytes() != (first / "streams_US.json.gz").read_bytes()
    assert ZIPF.key.endswith("-dzipf") and DaySpec(42, "acme", DAY, 20_000).key != ZIPF.key


def test_zipf_day_has_sixty_country_files_with_zipf_shares(zipf_day):
    out, manifest = zipf_day
    streams = manifest["countries"]["streams"]
    assert len(streams) == 60
    assert manifest["expected"]["streams"] + manifest["expected"]["sub30_streams"] == ZIPF.rows_per_day
    counts = {c: len(_lines(out / file_name("streams", c))) for c in streams}
    total = sum(counts.values())
    assert max(counts, key=counts.__getitem__) == "US"
    assert 0.25 <= counts["US"] / total <= 0.30
    shares = zipf_shares()
    for country in ("US", "BR", "GB", "DE"):  # the head follows the Zipf weights closely
        assert counts[country] / total == pytest.approx(shares[country], abs=0.015)


def test_rows_are_faithful_to_the_contract_and_the_row_wise_generator(zipf_day, tmp_path):
    out, _ = zipf_day
    generate_day(replace(ZIPF, rows_per_day=500, day_shape="uniform"), tmp_path)
    uniform = _lines(tmp_path / "streams_US.json.gz")[0]
    rows = _lines(out / "streams_US.json.gz")
    for row in rows:  # the same keys in the same order, each value of the same JSON type
        assert list(row) == list(uniform)
        assert [type(v) for v in row.values()] == [type(v) for v in uniform.values()]
    user_keys = list(_lines(tmp_path / "users.json.gz")[0])
    assert all(list(user) == user_keys for user in _lines(out / "users.json.gz"))
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps)  # time order within a file, as in uniform days
    assert all(r["country"] == "US" and r["region_code"].startswith("US-") for r in rows)
    assert all(r["stream_length"] >= 30_000 for r in rows)  # streams are 30 s or more
    assert all(len(r["track_id"]) == 22 and len(r["user_id"]) == 32 for r in rows)
    assert {r["access"] for r in rows} == {"free", "premium"}
    sub30 = _lines(out / "sub_30_sec_streams_US.json.gz")
    assert all(1000 <= r["stream_length"] < 30_000 and r["completion"] is False for r in sub30)
    share = len(sub30) / (len(sub30) + len(rows))
    assert 0.10 <= share <= 0.25  # the contract's sub-30 share
    sources = Counter(r["source"] for r in rows)
    assert sources["others_playlist"] > sources["chart"] > 0
    assert all(r["source_uri"].startswith("spotify:playlist:") for r in rows if "playlist" in r["source"])
    assert not any(r["offline"] and not r["cached"] for r in rows)  # offline plays are cached


def test_single_shape_holds_the_same_rows_in_one_file_per_report(zipf_day, tmp_path):
    _, zipf_manifest = zipf_day
    spec = replace(ZIPF, day_shape="single")
    manifest = generate_day(spec, tmp_path)
    assert manifest["countries"] == {"streams": [SINGLE_FILE], "sub_30_sec_streams": [SINGLE_FILE]}
    assert manifest["expected"] == zipf_manifest["expected"]
    rows = _lines(tmp_path / file_name("streams", SINGLE_FILE))
    assert len({r["country"] for r in rows}) == 60
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)


def test_landing_accepts_every_report_of_a_shaped_day_without_rejects(zipf_day, tmp_path):
    out, manifest = zipf_day
    expected = manifest["expected"]
    layout = Layout(tmp_path)
    for report in REPORTS:
        if report.per_country:
            files = [out / file_name(report.api_name, c) for c in manifest["countries"][report.api_name]]
        else:
            files = [out / file_name(report.api_name)]
        result = land_partition(layout, report, "acme", DAY, files)
        assert result.rejected == 0, report.name
        for table in result.tables:
            assert table.rows == expected[table.table], table.table
    assert expected["users"] > 1000 and expected["aggregated_count"] > expected["tracks"]


def test_day_shape_is_an_emulator_mode():
    assert EmulatorConfig(day_shape="zipf").content_modes[3] == "zipf"
    with pytest.raises(ValueError, match="day_shape"):
        EmulatorConfig(day_shape="lumpy")
