"""The catalog assets through Dagster, and `spotify-bulk enrich` end to end, against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.catalog import catalog_assets
from pipeline.cli.main import main
from pipeline.orchestration.resources import LakeResource, WebApiResource
from tests.kits.fake_lake import copy_lake
from tests.kits.settings import kit_definitions

DEFS = kit_definitions()  # built before any test instance exists

ASSETS = (
    "catalog_tracks",
    "catalog_albums",
    "catalog_artists",
    "catalog_playlists",
    "catalog_audio_features",
)
HISTORY = ("catalog_tracks_daily", "catalog_artists_daily", "catalog_playlists_daily")


def _resources(emu, data_dir: Path) -> dict[str, object]:
    return {
        "web_api": WebApiResource(
            client_id=emu.config.client_id,
            client_secret=emu.config.client_secret,
            base_url=emu.web_api_url,
            accounts_url=emu.accounts_url,
            rate_limit=10_000,
        ),
        "lake": LakeResource(data_dir=str(data_dir)),
    }


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {
        e.asset_key.to_user_string(): {
            k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_catalog_assets_are_defined_in_the_catalog_group_on_the_api_pool():
    defs = DEFS
    graph = defs.resolve_asset_graph()
    for name in ASSETS + HISTORY:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "catalog" and node.description
    assert {a.op.pool for a in catalog_assets} == {"spotify_api"}
    assert defs.resolve_job_def("catalog_job") is not None
    sequence = defs.resolve_sensor_def("daily_sequence")  # after the day's loads, before the build
    assert {t.job_name for t in sequence.targets} == {"catalog_job", "warehouse_job"}
    upstream = graph.get(dg.AssetKey("catalog_albums")).parent_keys
    assert dg.AssetKey("catalog_tracks") in upstream and dg.AssetKey("tracks") in upstream


def test_materialize_twice_lands_the_catalog_then_asks_nothing(emulator, layout, instance):
    first = dg.materialize(catalog_assets, resources=_resources(emulator, layout.data_dir), instance=instance)
    assert first.success
    meta = _metadata(first)
    assert set(meta) == set(ASSETS + HISTORY)
    history = {name: meta.pop(name) for name in HISTORY}
    assert all(m["dagster/row_count"] > 0 and m["requests"] > 0 and m["available"] for m in meta.values())
    assert history["catalog_tracks_daily"]["dagster/row_count"] == meta["catalog_tracks"]["dagster/row_count"]
    assert meta["catalog_tracks"]["not_found"] == 0 and "track_name" in meta["catalog_tracks"]["preview"]

    second = dg.materialize(
        catalog_assets, resources=_resources(emulator, layout.data_dir), instance=instance
    )
    assert second.success
    again = _metadata(second)
    assert set(again) == set(ASSETS)  # nothing fetched: no history written
    assert {name: m["requests"] for name, m in again.items()} == dict.fromkeys(ASSETS, 0)
    assert {n: m["dagster/row_count"] for n, m in again.items()} == {
        n: m["dagster/row_count"] for n, m in meta.items()
    }


def test_audio_features_403_keeps_the_run_green_and_marks_the_asset_unavailable(
    make_emulator, layout, instance
):
    emu = make_emulator("forbidden:endpoint=audio-features")
    result = dg.materialize(catalog_assets, resources=_resources(emu, layout.data_dir), instance=instance)
    assert result.success
    meta = _metadata(result)
    assert set(meta) == set(ASSETS + HISTORY)
    features = meta["catalog_audio_features"]
    assert features["available"] is False and features["requests"] == 1 and features["dagster/row_count"] == 0
    assert all(meta[n]["available"] and meta[n]["dagster/row_count"] > 0 for n in ASSETS[:4])


def test_cli_enrich_end_to_end(emulator, api_env, landed, tmp_path):
    copy_lake(landed, api_env)
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["SPOTIFY_WEB_API_RATE_LIMIT"] = "10000"
    command = [sys.executable, "-m", "pipeline.cli.main", "enrich"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("  catalog_tracks: ") and " 0 not found" in line for line in lines)
    done = next(line for line in lines if line.startswith("Enrichment done"))
    assert int(done.split(": ")[1].split()[0].replace(",", "")) > 0  # "N Web API requests"


def test_cli_enrich_refuses_bad_arguments(capsys):
    assert main(["enrich", "--ttl-days", "-1"]) == 2  # refused before Dagster is even imported
    assert "must not be negative" in capsys.readouterr().err
