"""The Streamlit page under Streamlit's own `AppTest`: sections, filters, empty states, and page
runs while a load and a build publish new data."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from tests.kits.dashboard import DAYS, MORE_DAY, drop_catalog_views, lake
from tests.kits.fake_lake import write_day

APP = Path(__file__).resolve().parents[2] / "pipeline" / "dashboard" / "app.py"
SECTIONS = [
    "Streams and listeners over time",
    "Top tracks",
    "Countries",
    "Demographics",
    "Sources",
    "Top playlists",
    "Artist popularity and followers",
    "Artificial streaming",
    "Data health",
]


def _run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(data_dir))
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    _no_failure(app)
    return app


def _no_failure(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def _metric(app: AppTest, label: str) -> int:
    return int(next(m for m in app.metric if m.label == label).value)


def _frame(app: AppTest, column: str):
    """The table that has `column` (tables keep the queries' column names)."""
    return next(df.value for df in app.dataframe if column in df.value.columns)


def _infos(app: AppTest) -> str:
    return "\n".join(i.value for i in app.info)


def _charts(app: AppTest) -> int:
    return len(app.get("vega_lite_chart"))


@pytest.fixture(scope="module")
def lake_streams(demo_dir) -> pl.DataFrame:
    return lake(demo_dir, "streams").with_columns(pl.col("country").str.to_uppercase())


def test_no_warehouse_says_what_to_run(tmp_path, monkeypatch):
    app = _run(tmp_path / "nothing-here", monkeypatch)
    text = _infos(app)
    assert "No warehouse yet" in text and "spotify-bulk demo" in text and "spotify-bulk build" in text
    assert not app.dataframe and not _charts(app)


def test_a_warehouse_without_streams_says_what_to_run(empty_dir, monkeypatch):
    app = _run(empty_dir, monkeypatch)
    text = _infos(app)
    assert "has no streams yet" in text and "spotify-bulk load" in text
    assert not app.dataframe and not app.sidebar.multiselect


def test_every_section_renders_with_formatted_numbers(demo_dir, monkeypatch, lake_streams):
    app = _run(demo_dir, monkeypatch)
    assert [s.value for s in app.subheader] == SECTIONS
    assert not app.info  # the catalog is there: no notes
    assert _metric(app, "Streams") == lake_streams.height
    assert _metric(app, "Countries") == lake_streams["country"].n_unique()
    top = _frame(app, "track_name")
    assert len(top) == 50 and top["track_name"].str.len().min() > 0
    assert _charts(app) == 7  # 2 over time, countries, demographics, sources, 2 for artists
    latest = next(m for m in app.metric if m.label.startswith("Streams on"))
    assert "vs. the day before" in latest.proto.delta
    formats = {f for m in app.metric for f in [m.proto.format]}
    assert formats == {"%,d"}


def test_licensor_filter(demo_dir, monkeypatch, lake_streams):
    app = _run(demo_dir, monkeypatch)
    app.sidebar.multiselect(key="licensors").select("acme").run()
    _no_failure(app)
    assert _metric(app, "Streams") == lake_streams.filter(pl.col("licensor") == "acme").height
    assert set(_frame(app, "track_name")["licensor"]) == {"acme"}
    assert set(_frame(app, "listeners")["licensor"]) == {"acme"}


def test_date_and_country_filters(demo_dir, monkeypatch, lake_streams):
    app = _run(demo_dir, monkeypatch)
    app.sidebar.date_input(key="dates").set_value((DAYS[1], DAYS[1])).run()  # a middle day
    _no_failure(app)
    day = lake_streams.filter(pl.col("date") == DAYS[1])
    assert _metric(app, "Streams") == day.height
    app.sidebar.multiselect(key="countries").select("US").run()
    _no_failure(app)
    assert _metric(app, "Streams") == day.filter(pl.col("country") == "US").height
    assert _metric(app, "Countries") == 1
    assert _frame(app, "country_name")["country"].to_list() == ["US"]
    app.sidebar.date_input(key="dates").set_value((DAYS[0],)).run()  # half-picked range: one day
    _no_failure(app)
    assert (
        _metric(app, "Streams")
        == lake_streams.filter((pl.col("date") == DAYS[0]) & (pl.col("country") == "US")).height
    )


def test_search_filter_and_nothing_matches(demo_dir, monkeypatch):
    app = _run(demo_dir, monkeypatch)
    name = _frame(app, "track_name")["track_name"][0]
    app.sidebar.text_input(key="search").input(name.lower()).run()
    _no_failure(app)
    assert name in _frame(app, "track_name")["track_name"].to_list()
    app.sidebar.text_input(key="search").input("no track is called this").run()
    _no_failure(app)
    assert "No streams match these filters" in _infos(app)
    assert not app.subheader and not app.dataframe and not _charts(app)


def test_choices_a_rebuild_removed_are_forgotten(demo_dir, monkeypatch):
    """A session that picked a licensor, country or days a rebuild no longer has keeps working."""
    app = _run(demo_dir, monkeypatch)
    app.session_state["licensors"] = ["acme", "initech"]
    app.session_state["countries"] = ["ZZ"]
    app.session_state["dates"] = (date(2020, 1, 1), date(2020, 1, 2))
    app.run()
    _no_failure(app)
    assert app.sidebar.multiselect(key="licensors").value == ["acme"]
    assert app.sidebar.multiselect(key="countries").value == []
    assert app.sidebar.date_input(key="dates").value == (DAYS[0], DAYS[-1])


def test_without_catalog_views_the_page_notes_what_to_run(demo_dir, copy_of, monkeypatch):
    data_dir = copy_of(demo_dir)
    drop_catalog_views(data_dir)
    app = _run(data_dir, monkeypatch)
    assert [s.value for s in app.subheader] == SECTIONS
    notes = _infos(app)
    assert (
        notes.count("spotify-bulk enrich") == 2 and "Playlist names" in notes and "Artist popularity" in notes
    )
    playlists = _frame(app, "playlist_name")
    assert playlists["playlist_name"].str.len().min() == 22  # ids stand in for names
    assert _charts(app) == 5  # no artist charts


def test_a_development_mode_catalog_names_everything_without_popularity(dev_dir, monkeypatch):
    app = _run(dev_dir, monkeypatch)
    assert [s.value for s in app.subheader] == SECTIONS
    assert "no artist popularity or followers" in _infos(app)
    assert "spotify-bulk enrich" not in _infos(app)
    tracks = _frame(app, "track_name")
    assert len(tracks) == 50 and tracks["track_name"].str.len().min() > 0
    assert _charts(app) == 5  # no artist charts


def test_an_unenriched_warehouse_notes_what_to_run(plain_dir, monkeypatch):
    app = _run(plain_dir, monkeypatch)
    assert _infos(app).count("spotify-bulk enrich") == 2
    assert len(_frame(app, "track_name")) == 50  # the tracks report names tracks without the catalog


def test_page_runs_during_a_load_and_build_never_fail(demo_dir, copy_of, monkeypatch):
    data_dir = copy_of(demo_dir)
    app = _run(data_dir, monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(_load_and_build, data_dir)
        runs = 0
        while not loading.done() or runs == 0:
            app.run()
            runs += 1
            _no_failure(app)
            assert not app.warning, [w.value for w in app.warning]
        loading.result()
    fresh = _run(data_dir, monkeypatch)  # a refresh: a new session, with the new day
    assert any(m.label == f"Streams on {MORE_DAY:%b %d}" for m in fresh.metric)
    assert runs > 1


def _load_and_build(data_dir: Path) -> None:
    """A new day lands in the lake (the small synthetic one: the HTTP loader is the browser test's)."""
    layout = Layout(data_dir)
    for licensor in ("acme", "globex"):
        write_day(layout, licensor, MORE_DAY)
    assert build_warehouse(layout).passed


def test_data_health_shows_freshness_per_licensor(demo_dir, monkeypatch):
    app = _run(demo_dir, monkeypatch)
    fresh = _frame(app, "days_missing")
    assert sorted(fresh["licensor"]) == ["acme", "globex"]
    assert fresh["days_missing"].to_list() == [0, 0] and fresh["rejected"].to_list() == [0, 0]
    assert [d.date() for d in fresh["newest_day"]] == [DAYS[-1]] * 2 and not fresh["last_load"].isna().any()
    assert any("re-pulls" in c.value for c in app.caption)
