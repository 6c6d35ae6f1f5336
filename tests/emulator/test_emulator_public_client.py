"""The public production client's forms over real HTTP: the coded aggregated shape and field forms."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.emulator import EmulatorConfig
from pipeline.emulator.aggregate_shapes import WIRE_GENDERS
from pipeline.emulator.config import parse_modes
from tests.kits.emulator_http import DAY, Bulk

AGES = {"0-17", "18-22", "23-27", "28-34", "35-44", "45-59", "60-150", "unknown"}


def test_the_modes_parse_and_are_checked():
    assert parse_modes(["aggregated_shape=coded", "field_forms=public_client"]) == {
        "aggregated_shape": "coded",
        "field_forms": "public_client",
    }
    with pytest.raises(ValueError):
        parse_modes(["field_forms=go"])
    assert EmulatorConfig(field_forms="public_client").content_modes[-1] == "public_client"


def test_the_coded_shape_reconciles_with_the_nested_one(make_emulator):
    nested = Bulk(make_emulator())
    emu = make_emulator(aggregated_shape="coded")
    coded = Bulk(emu)
    twins = {a["trackv2"]["uri"]: a for a in nested.records("acme", "aggregatedstreams", DAY)}
    records = coded.records("acme", "aggregatedstreams", DAY)
    assert records and len(records) == len(twins)
    cells = 0
    for record in records:
        twin = twins[record["trackv2"]["uri"]]
        assert "licensor" not in record and record["listeners"] == twin["listeners"]
        streams = record["streams"]
        assert "country" not in streams and streams["total"] == twin["streams"]["total"]
        for code, country in twin["streams"]["country"].items():
            mine = streams[code]
            assert mine["total"] == country["total"] and "gender" not in mine
            for gender, inner in country["gender"].items():
                wire = mine[WIRE_GENDERS[gender]]
                assert wire["total"] == inner["total"] and set(wire) - {"total"} <= AGES
                assert {k: v for k, v in wire.items() if k != "total"} == inner["age"]
                cells += len(inner["age"])
        assert record["skips"] == {"total": twin["skips"]["total"], **twin["skips"]["country"]}
        assert {c: v["total"] for c, v in record["saves"].items() if c != "total"} == {
            c: v["total"] for c, v in twin["saves"]["country"].items()
        }
    assert cells == emu.expected("acme", DAY)["aggregated_count"]
    assert nested.records("acme", "streams", DAY) == coded.records("acme", "streams", DAY)


def test_the_public_client_field_forms(make_emulator):
    contract = Bulk(make_emulator())
    client = Bulk(make_emulator(field_forms="public_client"))
    for report in ("streams", "sub_30_sec_streams"):
        sent, original = client.records("acme", report, DAY), contract.records("acme", report, DAY)
        assert sent and len(sent) == len(original)
        for row, twin in zip(sent, original, strict=True):
            assert "completion" not in row and "discovery" not in row
            assert row["completion_flag"] == ("Y" if twin["completion"] else "N")
            assert row["discovery_flag"] is twin["discovery"]
    sources = Counter(r["source"] for r in client.records("acme", "streams", DAY))
    assert sources["play_queue"] > 0
    users = client.records("acme", "users", DAY)
    assert {u["gender"] for u in users} <= set(WIRE_GENDERS.values())
    assert [WIRE_GENDERS[u["gender"]] for u in contract.records("acme", "users", DAY)] == [
        u["gender"] for u in users
    ]
