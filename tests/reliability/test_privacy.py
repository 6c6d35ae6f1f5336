"""Personal data: keyed pseudonyms for user_id at landing, dropped region codes, one key per lake."""

from __future__ import annotations

import hmac
import json

import pyarrow as pa
import pytest

from pipeline.cli import main as cli
from pipeline.config import load_settings
from pipeline.ingest.landing import LandingOptions
from pipeline.ingest.landing.privacy import MARKER_FILE, Privacy, PrivacyError, Pseudonymizer, pseudonym
from pipeline.layout import Layout
from pipeline.orchestration.resources import build_resources
from pipeline.reports import REPORTS
from pipeline.warehouse.build import build_warehouse
from tests.conftest import LOADED_DAY
from tests.kits.reliability import as_multiset, assert_no_partial_state, lake_state, load_day, record
from tests.reliability.conftest import LICENSOR

KEY = b"privacy-test-key-0123456789"
PERSONAL = ("streams", "sub30_streams", "users")


def _on(key: bytes = KEY, *, drop_region: bool = False) -> LandingOptions:
    return LandingOptions(privacy=Privacy(pseudonymize=True, key=key, drop_region=drop_region))


def test_pseudonyms_are_hmac_sha256_of_each_value_nulls_kept():
    """Hashed from the Arrow buffers: sliced arrays, large strings, empty and all-null batches too."""
    values = ["u1", "ünï\\x41", "", "u1", None, "a\nb", "😀", *[f"user-{i}" for i in range(10)], "u1"]
    worker = Pseudonymizer(Privacy(pseudonymize=True, key=KEY))
    whole = pa.array(["x", *values], pa.string())
    batches = [
        pa.chunked_array([pa.array(values[:7], pa.string())]),
        whole.slice(8),  # an offset into the buffers
        pa.array(values[:5], pa.large_string()),
        pa.array([None, None], pa.string()),
        pa.array([], pa.string()),
    ]
    for batch in batches:
        chunk = batch.to_pylist()
        out = worker.pseudonyms(batch)
        expected = [None if v is None else hmac.new(KEY, v.encode(), "sha256").hexdigest() for v in chunk]
        assert out.to_pylist() == expected
        assert out.type == pa.string()
    assert pseudonym(KEY, "u1") != pseudonym(b"another-key-0123456789", "u1")


def test_landing_pseudonymizes_user_ids_and_drops_region_codes_consistently(fault_emulator, tmp_path, clean):
    data_dir = tmp_path / "data"
    result = load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY, options=_on(drop_region=True))
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    raw_ids = {r["user_id"] for table in PERSONAL for r in clean[table]}
    for table in PERSONAL:
        expected = [{**r, "user_id": pseudonym(KEY, r["user_id"]), "region_code": None} for r in clean[table]]
        assert as_multiset(state[table]) == as_multiset(expected)
        assert not raw_ids & {str(v) for row in state[table] for v in row.values()}  # no raw id anywhere
    for table in set(state) - set(PERSONAL):
        assert state[table] == clean[table]  # reports without personal data are untouched
    # Joins still work: every streamed user is in users, and the warehouse's checks pass.
    users = {r["user_id"] for r in state["users"]}
    assert {r["user_id"] for r in state["streams"] + state["sub30_streams"]} <= users
    assert build_warehouse(Layout(data_dir)).passed
    assert json.loads((data_dir / MARKER_FILE).read_text())["pseudonymize"] is True
    assert KEY.decode() not in (data_dir / MARKER_FILE).read_text()
    leftovers = [p for p in (data_dir / ".staging").iterdir() if p.name != "duckdb-temp"]
    assert leftovers == []  # no spill file or staging copy of raw rows left behind
    record(
        "privacy",
        "pseudonymize + drop_region",
        f"{len(raw_ids)} user ids replaced by HMAC-SHA256 pseudonyms; warehouse checks pass",
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [(b"", "SPOTIFY_BULK_PSEUDONYM_KEY is not set"), (b"short", "is shorter than 16 characters")],
)
def test_a_missing_or_short_key_fails_before_any_request(emu, tmp_path, key, message):
    result = load_day(emu, tmp_path / "data", LICENSOR, LOADED_DAY, options=_on(key), reports=REPORTS[:1])
    failure = result.failures["streams"]
    assert message in str(failure) and failure.permanent
    assert str(failure).startswith(f"streams for {LICENSOR} on {LOADED_DAY} failed: ")
    assert emu.request_log == [] and not (tmp_path / "data").exists()


def test_one_lake_keeps_one_key_and_one_mode(fault_emulator, tmp_path):
    data_dir = tmp_path / "data"
    users = (next(r for r in REPORTS if r.name == "users"),)
    assert not load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY, options=_on(), reports=users).failures
    before = lake_state(data_dir, LICENSOR, LOADED_DAY)["users"]
    for options, message in (
        (_on(b"another-key-0123456789"), "is not the key this lake's user ids were pseudonymized with"),
        (LandingOptions(), "SPOTIFY_BULK_PSEUDONYMIZE is off"),
    ):
        failure = load_day(
            fault_emulator, data_dir, LICENSOR, LOADED_DAY, options=options, reports=users
        ).failures
        assert message in str(failure["users"]) and failure["users"].permanent
        assert lake_state(data_dir, LICENSOR, LOADED_DAY)["users"] == before  # nothing replaced
    # A lake landed before the option existed (raw ids, no marker) is not silently mixed either.
    (data_dir / MARKER_FILE).unlink()
    failure = load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY, options=_on(), reports=users).failures
    assert "this lake holds raw user ids" in str(failure["users"])
    assert_no_partial_state(data_dir)
    record("privacy", "key changed / mode switched / legacy raw lake", "refused clearly; lake unchanged")


def default_resources():
    return build_resources(load_settings())


def test_settings_default_to_pseudonymizing_and_the_cli_fails_fast_without_a_key(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_LICENSORS", LICENSOR)
    lake = default_resources()["lake"]
    assert lake.pseudonymize is True and lake.drop_region is False and lake.pseudonym_key  # an EnvVar
    monkeypatch.setenv("SPOTIFY_BULK_PSEUDONYMIZE", "off")
    monkeypatch.setenv("SPOTIFY_BULK_DROP_REGION", "1")
    lake = default_resources()["lake"]
    assert lake.pseudonymize is False and lake.drop_region is True
    monkeypatch.delenv("SPOTIFY_BULK_PSEUDONYMIZE")
    monkeypatch.delenv("SPOTIFY_BULK_PSEUDONYM_KEY")
    assert default_resources()["lake"].pseudonym_key == ""  # unset: our message, not Dagster's
    assert cli.main(["load", "--licensor", LICENSOR, "--date", str(LOADED_DAY)]) == 2
    assert "SPOTIFY_BULK_PSEUDONYM_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("SPOTIFY_BULK_PSEUDONYMIZE", "maybe")
    assert cli.main(["load", "--licensor", LICENSOR, "--date", str(LOADED_DAY)]) == 2
    assert "SPOTIFY_BULK_PSEUDONYMIZE='maybe' is not understood" in capsys.readouterr().err
    with pytest.raises(PrivacyError):
        Pseudonymizer(Privacy(pseudonymize=True, key=b""))
