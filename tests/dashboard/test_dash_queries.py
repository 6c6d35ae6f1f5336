"""The dashboard's queries against a demo-like warehouse: numbers checked against the lake's raw
Parquet (computed independently with polars) or against the marts they must agree with."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import polars as pl
import pytest

from pipeline.dashboard import queries as q
from tests.kits.dashboard import DAYS, drop_catalog_views, lake, warehouse


@pytest.fixture(scope="module")
def con(demo_dir):
    connection = warehouse(demo_dir)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def everything(con) -> q.Filters:
    options = q.filter_options(con)
    assert options is not None
    return q.Filters(start=options.first_day, end=options.last_day)


@pytest.fixture(scope="module")
def streams(demo_dir) -> pl.DataFrame:
    return lake(demo_dir, "streams").with_columns(pl.col("country").str.to_uppercase())


def test_options_offer_the_warehouse_licensors_days_and_countries(con, streams):
    options = q.filter_options(con)
    assert options.licensors == ("acme", "globex")
    assert (options.first_day, options.last_day) == (DAYS[0], DAYS[-1])
    assert {code for code, _ in options.countries} == set(streams["country"].unique())
    assert ("US", "United States") in options.countries
    assert options.default_filters() == q.Filters(start=DAYS[0], end=DAYS[-1])
    assert options.default_filters(days=1) == q.Filters(start=DAYS[-1], end=DAYS[-1])
    info = q.build_info(con)
    assert info is not None and (info.window_start, info.window_end) == (DAYS[0], DAYS[-1])


def test_totals_and_daily_streams_match_the_lake(con, everything, streams):
    totals = q.totals(con, everything)
    assert totals.streams == streams.height
    assert totals.listeners == streams.select(pl.struct("licensor", "user_id").n_unique()).item()
    assert totals.tracks == streams.select(pl.struct("licensor", "track_id").n_unique()).item()
    expected = (
        streams.group_by("licensor", "date")
        .agg(pl.len().alias("streams"), pl.col("user_id").n_unique().alias("listeners"))
        .sort("date", "licensor")
    )
    daily = q.daily_streams(con, everything)
    got = daily.select("licensor", "date", "streams", "listeners").cast({"streams": pl.UInt32})
    assert got.to_dicts() == expected.cast({"listeners": pl.Int64}).to_dicts()
    first, second = (daily.filter(pl.col("date") == day) for day in DAYS[:2])
    assert first["streams_dod_change"].is_null().all()  # no day before was loaded
    assert second["streams_dod_change"].to_list() == (second["streams"] - first["streams"]).to_list()
    assert second["streams_dod_change_pct"].to_list() == pytest.approx(
        ((second["streams"] - first["streams"]) / first["streams"]).to_list()
    )


def test_day_over_day_change_uses_the_day_before_the_window(con, everything):
    daily = q.daily_streams(con, everything)
    last = daily.filter(pl.col("date") == DAYS[-1])
    last_only = q.daily_streams(con, dataclasses.replace(everything, start=DAYS[-1]))
    assert last_only.to_dicts() == last.to_dicts()
    before = daily.filter(pl.col("date") == DAYS[-2])["streams"].sum()
    assert q.latest_day_change(daily) == (DAYS[-1], last["streams"].sum(), last["streams"].sum() - before)
    assert q.latest_day_change(last_only) == q.latest_day_change(daily)
    assert q.latest_day_change(daily.filter(pl.col("date") == DAYS[0]))[2] is None
    assert q.latest_day_change(daily.head(0)) is None


def test_top_tracks_agree_with_the_track_scorecard_and_carry_names(con, everything):
    top = q.top_tracks(con, everything, limit=20)
    assert top.height == 20 and top["rank"].to_list() == list(range(1, 21))
    assert top["streams"].to_list() == sorted(top["streams"].to_list(), reverse=True)
    expected = con.sql(
        """
        SELECT p.licensor, p.track_id, d.track_name, CAST(sum(p.streams) AS BIGINT) AS streams,
            sum(p.sub30_streams) / (sum(p.streams) + sum(p.sub30_streams)) AS sub30_share,
            sum(p.skips) / sum(p.streams) AS skip_rate, sum(p.saves) / sum(p.streams) AS save_rate
        FROM fct_track_performance AS p JOIN dim_tracks AS d USING (licensor, track_id)
        GROUP BY ALL
        """
    ).pl()
    joined = top.join(expected, on=["licensor", "track_id"], suffix="_mart")
    assert joined.height == top.height
    assert joined["track_name"].to_list() == joined["track_name_mart"].to_list()
    assert (top["track_name"] != top["track_id"]).all()  # real names, not ids
    for column in ("streams", "sub30_share", "skip_rate", "save_rate"):
        assert joined[column].to_list() == pytest.approx(joined[f"{column}_mart"].to_list()), column


def test_country_filter_applies_to_every_view(con, everything, streams, demo_dir):
    us = dataclasses.replace(everything, countries=("US",))
    lake_us = streams.filter(pl.col("country") == "US")
    assert q.totals(con, us).streams == lake_us.height and q.totals(con, us).countries == 1
    per_track = dict(
        lake_us.group_by("licensor", "track_id")
        .len()
        .select(pl.concat_str("licensor", "track_id"), "len")
        .iter_rows()
    )
    top = q.top_tracks(con, us, limit=500)
    assert {f"{r['licensor']}{r['track_id']}": r["streams"] for r in top.iter_rows(named=True)} == per_track
    assert q.countries(con, us)["country"].to_list() == ["US"]
    assert q.sources(con, us)["streams"].sum() == lake_us.height
    counts = lake(demo_dir, "aggregated_count").filter(pl.col("country").str.to_uppercase() == "US")
    assert q.demographics(con, us)["streams"].sum() == counts["streams"].sum()
    playlists = q.top_playlists(con, us, with_catalog=True, limit=500)
    assert (
        playlists["streams"].sum()
        == lake_us.filter(pl.col("source_uri").str.starts_with("spotify:playlist:")).height
    )


def test_licensor_and_search_filters(con, everything):
    acme = q.top_tracks(con, dataclasses.replace(everything, licensors=("acme",)), limit=500)
    assert set(acme["licensor"]) == {"acme"}
    name = q.top_tracks(con, everything, limit=1)["track_name"].item()
    word = name.split()[-1].upper()  # case-insensitive substring
    found = q.top_tracks(con, dataclasses.replace(everything, search=f"  {word} "), limit=500)
    assert name in found["track_name"].to_list()
    assert all(
        word.lower() in f"{n} {a}".lower() for n, a in found.select("track_name", "artists").iter_rows()
    )
    artist = q.top_tracks(con, everything, limit=1)["artists"].item().split(",")[0].strip()
    by_artist = q.top_tracks(con, dataclasses.replace(everything, search=artist), limit=500)
    assert by_artist.height and all(artist in a for a in by_artist["artists"])
    assert q.totals(con, dataclasses.replace(everything, search=artist)).streams == by_artist["streams"].sum()


@pytest.mark.parametrize("text", ["'; DROP VIEW dim_tracks; --", "%", "_", "no such track"])
def test_search_text_is_a_value_never_sql(con, everything, text):
    filters = dataclasses.replace(everything, search=text)
    assert q.totals(con, filters).streams == 0
    assert q.top_tracks(con, filters).is_empty()
    assert q.daily_streams(con, filters).is_empty()
    assert q.demographics_matrix(q.demographics(con, filters)).is_empty()
    assert q.artist_summary(q.artist_history(con, filters)).is_empty()
    assert "dim_tracks" in q.relations(con)


def test_demographics_and_sources_agree_with_their_marts(con, everything):
    demo = q.demographics(con, everything)
    mart = con.sql(
        "SELECT age_group, gender, CAST(sum(streams) AS BIGINT) AS streams FROM fct_track_demographics "
        "GROUP BY ALL ORDER BY ALL"
    ).pl()
    assert demo.select("age_group", "gender", "streams").to_dicts() == mart.to_dicts()
    assert demo["share"].sum() == pytest.approx(1.0)
    matrix = q.demographics_matrix(demo)
    assert matrix["age_group"].to_list() == sorted(demo["age_group"].unique().to_list())
    groups = q.source_groups(q.sources(con, everything))
    mix = con.sql(
        "SELECT source_group, CAST(sum(streams) AS BIGINT) AS streams FROM fct_source_mix GROUP BY ALL"
    ).pl()
    assert dict(groups.select("source_group", "streams").iter_rows()) == dict(mix.iter_rows())
    assert groups["share"].sum() == pytest.approx(1.0)
    countries = q.countries(con, everything)
    assert countries["share"].sum() == pytest.approx(1.0)
    assert countries["country_name"].null_count() == 0


def test_top_playlists_carry_catalog_names_and_their_streams(con, everything, streams):
    playlists = q.top_playlists(con, everything, with_catalog=True, limit=500)
    from_playlists = streams.filter(pl.col("source_uri").str.starts_with("spotify:playlist:"))
    assert playlists["streams"].sum() == from_playlists.height
    top = playlists.row(0, named=True)
    assert top["playlist_name"] and top["followers"] is not None and top["owner_name"]
    bare = q.top_playlists(con, everything, with_catalog=False, limit=500)
    assert bare["playlist_name"].is_null().all()
    assert (
        bare.select("playlist_id", "streams").to_dicts()
        == playlists.select("playlist_id", "streams").to_dicts()
    )


def test_artist_history_has_one_point_per_enrichment_day(con, everything):
    assert q.catalog_availability(con) == q.CatalogAvailability(playlists=True, artists=True)
    history = q.artist_history(con, everything, limit=5)
    assert history["artist_id"].n_unique() == 5
    days = sorted(history["snapshot_date"].unique())
    assert len(days) == 2 and days[1] - days[0] == timedelta(days=1)
    summary = q.artist_summary(history)
    assert summary.height == 5 and summary["snapshots"].to_list() == [2] * 5
    assert summary["streams"].to_list() == sorted(summary["streams"].to_list(), reverse=True)
    assert (summary["artist_name"].str.len_chars() > 0).all()


def test_an_older_warehouse_without_catalog_views_still_answers(demo_dir, copy_of):
    data_dir = copy_of(demo_dir)
    drop_catalog_views(data_dir)
    con = warehouse(data_dir)
    try:
        assert q.catalog_availability(con) == q.CatalogAvailability(playlists=False, artists=False)
        options = q.filter_options(con)
        filters = options.default_filters()
        assert q.top_playlists(con, filters, with_catalog=False)["streams"].sum() > 0
        assert q.top_tracks(con, filters).height > 0
    finally:
        con.close()


def test_a_warehouse_without_streams_offers_no_filters(empty_dir):
    con = warehouse(empty_dir)
    try:
        assert q.filter_options(con) is None
    finally:
        con.close()
