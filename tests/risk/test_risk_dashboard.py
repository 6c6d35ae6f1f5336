"""The dashboard's "Artificial streaming" section on a labelled warehouse (Streamlit's AppTest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.dashboard import __file__ as dashboard_init
from pipeline.dashboard import queries
from pipeline.dashboard.queries import Filters
from pipeline.warehouse.catalog import open_catalog
from tests.risk.conftest import FIRST, RiskLake

APP = str(Path(dashboard_init).with_name("app.py"))


def test_the_section_lists_flagged_tracks_their_history_and_pseudonyms(
    risk_lake: RiskLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(risk_lake.layout.data_dir))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception, [e.message for e in app.exception]
    assert "Artificial streaming" in [s.value for s in app.subheader]
    flagged = next(df.value for df in app.dataframe if "artificial_share" in df.value.columns)
    fraud_tracks = {t for label in risk_lake.labels if label.fraud for t in label.track_ids}
    assert set(flagged["track_id"]) <= fraud_tracks and len(flagged) >= 0.7 * len(fraud_tracks)
    listeners = next(df.value for df in app.dataframe if "listener" in df.value.columns)
    assert len(listeners) and all(re.fullmatch(r"L[0-9a-f]{16}", v) for v in listeners["listener"])
    users = {u for label in risk_lake.labels for u in label.user_ids}
    assert not users & set(listeners["listener"])
    titles = {c.proto.spec for c in app.get("vega_lite_chart")}
    assert any("Artificial share" in spec for spec in titles) and any("Risk score" in spec for spec in titles)


def test_a_quiet_window_says_so(risk_lake: RiskLake) -> None:
    con = open_catalog(risk_lake.layout.warehouse_path)
    try:
        assert queries.has_risk(con)
        quiet = Filters(FIRST, FIRST)
        assert queries.flagged_tracks(con, quiet).is_empty() and queries.risk_history(con, quiet).is_empty()
        day = Filters(risk_lake.fraud_day, risk_lake.fraud_day, licensors=("globex",))
        assert queries.flagged_tracks(con, day).is_empty()
        history = queries.risk_history(con, Filters(FIRST, risk_lake.fraud_day))
        assert set(history["date"]) == {FIRST, FIRST.replace(day=2), risk_lake.fraud_day}  # the run-up too
    finally:
        con.close()
