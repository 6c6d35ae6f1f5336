"""The dashboard on a warehouse whose Aggregated Streams came in the totals shape: it says there is
no demographic breakdown instead of charting an invented one."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.emulator import start_emulator
from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from tests.conftest import EMULATOR_TODAY
from tests.kits.dashboard import DAYS, land
from tests.kits.settings import one_licensor_config

APP = Path(__file__).resolve().parents[2] / "pipeline" / "dashboard" / "app.py"


def test_totals_shape_says_no_demographic_breakdown(tmp_path, monkeypatch: pytest.MonkeyPatch):
    layout = Layout(tmp_path / "data")
    with start_emulator(
        one_licensor_config(tmp_path / "cache", EMULATOR_TODAY, aggregated_shape="totals")
    ) as emulator:
        land(emulator, layout, DAYS[-1:])
    assert build_warehouse(layout).passed
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(layout.data_dir))
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception and not app.error
    captions = [c.value for c in app.caption]
    assert any(c.startswith("No demographic breakdown") for c in captions), captions
    assert "Demographics" in [s.value for s in app.subheader]
