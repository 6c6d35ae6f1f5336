"""The Dagster definitions load, validate and describe themselves."""

import dagster as dg

from assets.bulk_reports import bulk_report_assets
from pipeline.reports import REPORTS, TABLES_BY_NAME
from tests.kits.settings import kit_definitions, kit_partitions

defs = kit_definitions()
report_assets = bulk_report_assets(kit_partitions())


def test_definitions_validate():
    dg.Definitions.validate_loadable(defs)


def test_every_lake_table_is_an_asset_with_a_description():
    graph = defs.resolve_asset_graph()
    for table in TABLES_BY_NAME:
        node = graph.get(dg.AssetKey(table))
        assert node.description, f"{table} has no description"
        assert node.partitions_def is not None


def test_every_asset_has_a_description():
    graph = defs.resolve_asset_graph()
    missing = [key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).description]
    assert missing == []


def test_report_assets_use_the_api_pool_and_retry():
    by_name = {a.op.name: a for a in report_assets}
    assert sorted(by_name) == sorted(f"{r.name}_report" for r in REPORTS)
    for asset in report_assets:
        assert asset.op.pool == "spotify_api"
        assert asset.op.retry_policy is not None
        assert {k.to_user_string() for k in asset.keys} <= set(TABLES_BY_NAME)


def test_blocking_checks_cover_schema_and_the_stream_length_unit():
    checks = {
        (spec.asset_key.to_user_string(), spec.name): spec
        for asset in report_assets
        for spec in asset.check_specs
    }
    for table in TABLES_BY_NAME:
        assert checks[(table, "schema_as_declared")].blocking
    assert checks[("sub30_streams", "stream_length_in_ms")].blocking
    # Out-of-bounds lengths are rejected lines (the reject share), not day-level checks.
    assert not {name for table, name in checks if table == "streams"} - {"schema_as_declared", "reject_share"}
    assert ("streams", "reject_share") in checks
