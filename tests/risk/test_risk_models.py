"""The risk marts on a labelled day: every fraud pattern flagged, every hard negative quiet."""

from __future__ import annotations

import re
import shutil

import pytest

from pipeline.config import RiskSettings, risk_settings_from
from pipeline.emulator.fraud import FRAUDS, NEGATIVES
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.options import WarehouseOptions
from tests.kits.risk import SHARE_OF_DAY, pattern_shares
from tests.risk.conftest import FIRST, RiskLake


def _flags(lake: RiskLake, day: object) -> dict[str, bool]:
    con = open_catalog(lake.layout.warehouse_path)
    try:
        rows = con.execute("SELECT track_id, flagged FROM fct_track_risk WHERE date = ?", [day]).fetchall()
    finally:
        con.close()
    return dict(rows)


@pytest.mark.parametrize("pattern", FRAUDS)
def test_each_fraud_pattern_is_flagged_by_the_same_days_build(risk_lake: RiskLake, pattern: str) -> None:
    """Every track the pattern makes a fifth or more of is flagged (a farm riding a hit may not be)."""
    label = next(label for label in risk_lake.labels if label.pattern == pattern)
    built = {b.model for b in risk_lake.daily_build.models}
    assert {"fct_track_risk", "fct_suspicious_listeners", "fct_risk_track_signals"} <= built
    flags = _flags(risk_lake, risk_lake.fraud_day)
    con = open_catalog(risk_lake.layout.warehouse_path)
    try:
        shares = pattern_shares(con, risk_lake.fraud_day, label)
    finally:
        con.close()
    eligible = [t for t in label.track_ids if shares.get(t, 0.0) >= SHARE_OF_DAY]
    assert len(eligible) >= len(label.track_ids) // 2, shares
    missed = [t for t in eligible if not flags.get(t)]
    assert len(missed) <= len(eligible) // 20, f"{pattern}: {len(missed)} of {len(eligible)} missed"


@pytest.mark.parametrize("pattern", NEGATIVES)
def test_each_hard_negative_stays_quiet(risk_lake: RiskLake, pattern: str) -> None:
    label = next(label for label in risk_lake.labels if label.pattern == pattern)
    flags = _flags(risk_lake, risk_lake.fraud_day)
    assert all(t in flags for t in label.track_ids), "the negative's track was streamed that day"
    assert not any(flags[t] for t in label.track_ids)


def test_nothing_else_is_flagged(risk_lake: RiskLake) -> None:
    fraud_tracks = {t for label in risk_lake.labels if label.fraud for t in label.track_ids}
    assert not any(_flags(risk_lake, FIRST).values()), "a day without patterns has no flag"
    flagged = {t for t, f in _flags(risk_lake, risk_lake.fraud_day).items() if f}
    assert flagged and flagged <= fraud_tracks


def test_suspicious_listeners_are_pseudonyms_with_reasons(risk_lake: RiskLake) -> None:
    con = open_catalog(risk_lake.layout.warehouse_path)
    try:
        rows = con.execute("SELECT listener, reasons FROM fct_suspicious_listeners").fetchall()
        lake_ids = {r[0] for r in con.execute("SELECT DISTINCT user_id FROM stg_users").fetchall()}
        columns = {r[0] for r in con.execute("DESCRIBE fct_suspicious_listeners").fetchall()}
    finally:
        con.close()
    assert rows and "user_id" not in columns
    assert all(re.fullmatch(r"L[0-9a-f]{16}", listener) and reasons for listener, reasons in rows)
    assert not {listener for listener, _ in rows} & lake_ids
    injected = {u for label in risk_lake.labels if label.fraud for u in label.user_ids}
    assert len(rows) >= len(injected)  # a bot is suspicious on every track it farms


def test_scores_reasons_and_shares_of_a_flag(risk_lake: RiskLake) -> None:
    bot = next(label for label in risk_lake.labels if label.pattern == "bot_farm")
    con = open_catalog(risk_lake.layout.warehouse_path)
    try:
        score, share, reasons, short = con.execute(
            "SELECT risk_score, artificial_share_estimate, reasons, short_share FROM fct_track_risk "
            "WHERE date = ? AND track_id = ?",
            [risk_lake.fraud_day, bot.track_ids[0]],
        ).fetchone()
    finally:
        con.close()
    assert 60 <= score <= 100 and share > 0.9 and short > 0.9
    for words in ("playing just over 30 s", "accounts under 30 days", "evenly spaced"):
        assert words in reasons


def test_thresholds_are_settings_the_models_read(risk_lake: RiskLake, tmp_path) -> None:
    """`SPOTIFY_BULK_RISK_*` reach the SQL: thresholds no farm meets leave nothing flagged."""
    shutil.copytree(risk_lake.layout.data_dir, tmp_path / "data", symlinks=True)
    layout = Layout(tmp_path / "data")
    risk = risk_settings_from(
        {"SPOTIFY_BULK_RISK_LOOP_PLAYS": "1000", "SPOTIFY_BULK_RISK_LOCKSTEP_MIN_USERS": "1000"}
    )
    assert risk == RiskSettings(loop_plays=1000, lockstep_min_users=1000) and RiskSettings().fee_eur == 10
    result = build_warehouse(layout, full_refresh=True, options=WarehouseOptions(risk=risk))
    assert result.passed, result.failed_checks
    con = open_catalog(layout.warehouse_path)
    try:
        assert (
            con.execute("SELECT count(*) FILTER (WHERE flagged), count(*) FROM fct_track_risk").fetchone()[0]
            == 0
        )
    finally:
        con.close()
    with pytest.raises(UsageError, match="SPOTIFY_BULK_RISK_LOOP_PLAYS"):
        risk_settings_from({"SPOTIFY_BULK_RISK_LOOP_PLAYS": "eight"})
