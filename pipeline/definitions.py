"""The one place that assembles the Dagster definitions from `assets/`."""

from __future__ import annotations

import dagster as dg

import assets
from assets.catalog import catalog_job, daily_catalog
from assets.schedules import bulk_reports_job, daily_bulk_reports, daily_warehouse, warehouse_job
from pipeline.resources import default_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(assets),
    jobs=[bulk_reports_job, catalog_job, warehouse_job],
    schedules=[daily_bulk_reports, daily_catalog, daily_warehouse],
    resources=default_resources(),
)
