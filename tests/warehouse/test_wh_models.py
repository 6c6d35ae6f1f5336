"""Model discovery: headers, parameters, dependencies from the SQL, and the order they give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.warehouse.models import SQL_ROOT, ModelError, discover_models, topological_order


def _write(
    root: Path, layer: str, name: str, body: str, *, partitioned: str = "none", key: str = "id"
) -> None:
    (root / layer).mkdir(parents=True, exist_ok=True)
    header = f"-- {name}: test model.\n-- grain: one thing\n-- key: {key}\n-- partitioned_by: {partitioned}\n"
    (root / layer / f"{name}.sql").write_text(header + body)


def test_project_models_are_ordered_by_what_their_sql_reads():
    models = discover_models()
    order = [m.name for m in models]
    position = {name: i for i, name in enumerate(order)}
    for model in models:
        for dep in model.depends_on:
            assert position[dep] < position[model.name], (dep, model.name)
    by_name = {m.name: m for m in models}
    assert by_name["fct_track_performance"].depends_on == (
        "fct_track_sub30_share",
        "stg_aggregated_summary",
        "stg_catalog_tracks",
        "stg_catalog_tracks_daily",
        "stg_streams",
        "stg_tracks",
    )
    assert by_name["stg_streams"].lake_tables == ("streams",)
    assert by_name["dim_country"].seeds == ("countries",)
    assert by_name["fct_track_performance"].rolling_days == 28
    assert all(m.layer == "staging" for m in models[:15])
    staging = {m.name for m in models if m.layer == "staging"}
    lake = {t for m in models for t in m.lake_tables}
    assert lake == {
        "streams", "sub30_streams", "users", "tracks",
        "aggregated_summary", "aggregated_count", "aggregated_skips", "aggregated_saves",
        # the Web API catalog (catalog enrichment), with its daily history
        "catalog_tracks", "catalog_albums", "catalog_artists", "catalog_playlists",
        "catalog_tracks_daily", "catalog_artists_daily", "catalog_playlists_daily",
    }  # fmt: skip
    assert len(staging) == 15


def test_dependencies_come_from_the_sql_not_a_list(tmp_path: Path):
    _write(tmp_path, "staging", "stg_a", "SELECT 1 AS id FROM lake.users")
    _write(tmp_path, "marts", "zz_first", "SELECT id FROM stg_a  -- mentions mm_second only in a comment")
    _write(tmp_path, "marts", "mm_second", "SELECT id, 'zz_first' AS s FROM zz_first")
    _write(tmp_path, "marts", "aa_third", "WITH x AS (SELECT * FROM mm_second) SELECT * FROM x")
    order = [m.name for m in discover_models(tmp_path)]
    assert order == ["stg_a", "zz_first", "mm_second", "aa_third"]
    by_name = {m.name: m for m in discover_models(tmp_path)}
    assert by_name["zz_first"].depends_on == ("stg_a",)  # the comment and the string do not count
    assert by_name["mm_second"].depends_on == ("zz_first",)


def test_cycles_and_self_references_are_refused(tmp_path: Path):
    _write(tmp_path, "marts", "a_model", "SELECT id FROM b_model")
    _write(tmp_path, "marts", "b_model", "SELECT id FROM a_model")
    with pytest.raises(ModelError, match="cycle"):
        discover_models(tmp_path)
    with pytest.raises(ModelError, match="cycle"):
        topological_order({"x": ("y",), "y": ("x",)})
    shutil.rmtree(tmp_path / "marts")
    _write(tmp_path, "marts", "a_model", "SELECT id FROM a_model")
    with pytest.raises(ModelError, match="itself"):
        discover_models(tmp_path)


@pytest.mark.parametrize(
    ("body", "partitioned", "message"),
    [
        ("SELECT 1 AS id FROM lake.nope", "none", "unknown lake table"),
        ("SELECT 1 AS id", "date", r"\$start and \$end"),
        ("SELECT 1 AS id WHERE date = $start", "none", "expected none"),
        ("SELECT 1 AS id FROM seeds.missing", "none", "seed 'missing' not found"),
        ("SELECT 1 AS id", "weekly", "partitioned_by"),
    ],
)
def test_malformed_models_fail_with_the_file_named(tmp_path: Path, body: str, partitioned: str, message: str):
    _write(tmp_path, "marts", "bad_model", body, partitioned=partitioned)
    with pytest.raises(ModelError, match=message) as info:
        discover_models(tmp_path)
    assert "bad_model.sql" in str(info.value)


def test_headers_are_required_and_checked(tmp_path: Path):
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "no_header.sql").write_text("SELECT 1")
    with pytest.raises(ModelError, match="must start with a comment"):
        discover_models(tmp_path)
    (tmp_path / "marts" / "no_header.sql").write_text(
        "-- no_header: x\n-- grain: g\n-- colour: red\nSELECT 1"
    )
    with pytest.raises(ModelError, match="unknown header field 'colour'"):
        discover_models(tmp_path)


def test_every_project_model_has_a_header_with_grain_and_key():
    for model in discover_models():
        text = model.path.read_text()
        assert text.startswith(f"-- {model.name}: "), model.path
        assert model.grain and model.description
        if model.materialized:
            assert model.key, model.name
    assert (SQL_ROOT / "seeds" / "countries.csv").is_file()
