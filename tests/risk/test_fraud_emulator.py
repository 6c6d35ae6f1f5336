"""The emulator's labelled patterns: off by default, deterministic, and days that still reconcile."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.emulator import EmulatorConfig
from pipeline.emulator.fraud import FRAUDS, PATTERNS, FraudPlan
from pipeline.emulator.generate import DaySpec, fraud_labels, generate_day

DAY = date(2026, 6, 3)
PLAN = FraudPlan.everything(date(2026, 6, 2))


def _lines(out: Path, pattern: str) -> list[dict]:
    rows = []
    for path in sorted(out.glob(pattern)):
        with gzip.open(path, "rt") as lines:
            rows += [json.loads(line) for line in lines]
    return rows


@pytest.fixture(scope="module")
def fraud_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fraud-day")
    manifest = generate_day(DaySpec(7, "acme", DAY, 3000, fraud=PLAN.token), out)
    return out, manifest


def test_off_by_default_and_the_plain_day_is_unchanged() -> None:
    assert EmulatorConfig().fraud.token == "" and FraudPlan().active(DAY) == ()
    assert "-x" not in DaySpec(7, "acme", DAY, 3000).key
    assert DaySpec(7, "acme", DAY, 3000, fraud=PLAN.token).key != DaySpec(7, "acme", DAY, 3000).key


def test_plans_round_trip_and_refuse_unknown_patterns() -> None:
    assert FraudPlan.from_token(PLAN.token) == PLAN and set(PLAN.patterns) == set(PATTERNS)
    assert FraudPlan(("bot_farm",)).active(date(2000, 1, 1)) == ("bot_farm",)
    assert PLAN.active(date(2026, 6, 1)) == ()
    with pytest.raises(ValueError, match="unknown fraud pattern"):
        FraudPlan(("bot_farms",))
    with pytest.raises(ValueError, match="uniform"):
        generate_day(DaySpec(7, "acme", DAY, 3000, day_shape="zipf", fraud=PLAN.token), Path("/nonexistent"))


def test_an_injected_day_reconciles(fraud_day: tuple[Path, dict]) -> None:
    out, manifest = fraud_day
    streams = _lines(out, "streams_*.json.gz")
    users = {u["user_id"]: u for u in _lines(out, "users.json.gz")}
    aggregated = _lines(out, "aggregatedstreams.json.gz")
    assert manifest["expected"]["streams"] == len(streams) and manifest["expected"]["users"] == len(users)
    by_track = Counter(s["track_id"] for s in streams)
    played = [a for a in aggregated if a["streams"]["total"]]  # the rest had sub-30 plays only
    assert {a["trackv2"]["uri"].rsplit(":", 1)[1]: a["streams"]["total"] for a in played} == by_track
    listeners = {t: len({s["user_id"] for s in streams if s["track_id"] == t}) for t in by_track}
    assert {a["trackv2"]["uri"].rsplit(":", 1)[1]: a["listeners"] for a in played} == listeners
    assert {s["user_id"] for s in _lines(out, "*streams_*.json.gz")} <= set(users)


def test_labels_name_who_and_what_each_pattern_touched(fraud_day: tuple[Path, dict]) -> None:
    out, _ = fraud_day
    labels = fraud_labels(DaySpec(7, "acme", DAY, 3000, fraud=PLAN.token))
    assert labels == fraud_labels(DaySpec(7, "acme", DAY, 3000, fraud=PLAN.token))
    assert [label.pattern for label in labels] == list(PATTERNS)
    assert {label.pattern for label in labels if label.fraud} == set(FRAUDS)
    streams = _lines(out, "streams_*.json.gz")
    users = {u["user_id"]: u for u in _lines(out, "users.json.gz")}
    for label in labels:
        theirs = [
            s for s in streams if s["user_id"] in set(label.user_ids) and s["track_id"] in label.track_ids
        ]
        assert {s["user_id"] for s in theirs} == set(label.user_ids), label.pattern
    bots = next(label for label in labels if label.pattern == "bot_farm")
    plays = [s for s in streams if s["user_id"] in set(bots.user_ids)]
    assert all(31_000 <= s["stream_length"] <= 34_000 and s["source"] == "" for s in plays)
    assert len({(s["region_code"], s["device_type"]) for s in plays}) == 1
    assert all(users[u]["account_age_days"] < 30 for u in bots.user_ids)


def test_demo_with_fraud_injects_every_pattern_into_the_last_two_days(tmp_path: Path) -> None:
    from pipeline.cli.demo import demo_config
    from pipeline.layout import Layout

    assert demo_config(Layout(tmp_path), 3000).fraud == FraudPlan()
    config = demo_config(Layout(tmp_path), 3000, with_fraud=True)
    last = config.available()[1]
    assert set(config.fraud.patterns) == set(PATTERNS)
    assert config.fraud.active(last) and config.fraud.active(last - timedelta(days=1))
    assert not config.fraud.active(last - timedelta(days=2))
