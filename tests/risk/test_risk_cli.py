"""`spotify-bulk risk`: the flagged tracks, --json, and the exit codes cron and alerting rely on."""

from __future__ import annotations

import json

import pytest

from pipeline.cli.main import main
from pipeline.cli.risk import EXIT_FLAGGED
from tests.risk.conftest import FIRST, RiskLake


@pytest.fixture
def env(risk_lake: RiskLake, monkeypatch: pytest.MonkeyPatch, tmp_path) -> RiskLake:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(risk_lake.layout.data_dir))
    monkeypatch.delenv("SPOTIFY_BULK_RISK_FEE_EUR", raising=False)
    return risk_lake


def test_json_lists_every_flagged_fraud_track_with_fee_exposure(env: RiskLake, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SPOTIFY_BULK_RISK_FEE_EUR", "12.5")
    day = env.fraud_day.isoformat()
    assert main(["risk", "--start", FIRST.isoformat(), "--end", day, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    flagged = {t["track_id"]: t for t in payload["flagged"]}
    fraud_tracks = {t for label in env.labels if label.fraud for t in label.track_ids}
    assert set(flagged) <= fraud_tracks and len(flagged) >= 0.7 * len(fraud_tracks)
    one = next(iter(flagged.values()))
    assert one["fee_exposure_eur"] == 12.5 and one["first_flagged"] == day and one["reasons"]
    assert 0 < one["max_artificial_share"] <= 1 and one["licensor"] == "acme"
    assert payload["fee_exposure_eur"] == 12.5 * len(flagged)


def test_fail_on_flagged_exits_non_zero_only_when_something_is_flagged(env: RiskLake, capsys) -> None:
    day = env.fraud_day.isoformat()
    assert main(["risk", "--date", day, "--fail-on-flagged"]) == EXIT_FLAGGED
    out = capsys.readouterr().out
    assert "flagged for artificial streaming" in out and "EUR" in out and "lockstep" in out
    assert main(["risk", "--date", day]) == 0
    capsys.readouterr()
    assert main(["risk", "--date", FIRST.isoformat(), "--fail-on-flagged"]) == 0
    assert "No track flagged" in capsys.readouterr().out
    assert main(["risk", "--date", day, "--licensor", "globex", "--fail-on-flagged"]) == 0


def test_a_bad_window_or_threshold_is_one_line_and_exit_2(env: RiskLake, capsys, monkeypatch) -> None:
    assert main(["risk", "--start", "2026-06-09", "--end", "2026-06-01"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("SPOTIFY_BULK_RISK_FLAG_SHARE", "1.5")
    assert main(["risk", "--date", env.fraud_day.isoformat()]) == 2
    assert "SPOTIFY_BULK_RISK_FLAG_SHARE" in capsys.readouterr().err


def test_no_warehouse_or_an_old_one_says_what_to_run(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(tmp_path / "data"))
    assert main(["risk"]) == 2
    err = capsys.readouterr().err
    assert "spotify-bulk build" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
