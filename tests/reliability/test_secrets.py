"""Secrets: a load with known secret values, then every output grepped for them.

The client secret, every access token the emulator issued (token expiry forces several), the
pseudonym key and a wrong secret tried on purpose must appear in no log line (DEBUG included), no
Dagster event or metadata, no exception message, no archive manifest and no file under the data
directory or the Dagster instance, from in-process runs, failed runs and the real CLI. Signed
download URLs (a credential until they expire) are held to the same rule.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import dagster as dg

from pipeline.cli.main import main
from pipeline.emulator import FaultPlan, start_emulator
from pipeline.orchestration.partitions import partition_key
from pipeline.orchestration.resources import LakeResource
from tests.conftest import LOADED_DAY
from tests.kits.reliability import lake_state, record
from tests.kits.settings import emulator_bulk_api, lake_report_assets
from tests.reliability.conftest import LICENSOR

ROOT = Path(__file__).resolve().parents[2]
SECRET = f"SeCrEt-{uuid.uuid4().hex}"
WRONG = f"WrOnG-{uuid.uuid4().hex}"
KEY = f"PsEuDoKeY-{uuid.uuid4().hex}"


def _needles(client_id: str, tokens: list[str]) -> dict[str, bytes]:
    """Every secret value, raw and as an HTTP Basic credential would carry it."""
    values = {"client secret": SECRET, "wrong secret": WRONG, "pseudonym key": KEY}
    values |= {f"token {i + 1}": token for i, token in enumerate(tokens)}
    needles = {name: value.encode() for name, value in values.items()}
    for name, secret in (("client secret", SECRET), ("wrong secret", WRONG)):
        needles[f"{name} (Basic)"] = base64.b64encode(f"{client_id}:{secret}".encode())
    return needles


def _scan(roots: list[Path], texts: dict[str, str], needles: dict[str, bytes]) -> tuple[int, int, list[str]]:
    """(files scanned, bytes scanned, hits as 'needle in where')."""
    hits, files, size = [], 0, 0
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            files, size = files + 1, size + len(data)
            hits += [f"{name} in {path}" for name, needle in needles.items() if needle in data]
    for where, text in texts.items():
        data = text.encode("utf-8", "backslashreplace")
        size += len(data)
        hits += [f"{name} in {where}" for name, needle in needles.items() if needle in data]
    return files, size, hits


def _resources(emu, data_dir: Path) -> dict:
    return {
        "bulk_api": emulator_bulk_api(emu, client_secret=dg.EnvVar("SPOTIFY_CLIENT_SECRET")),
        "lake": LakeResource(
            data_dir=str(data_dir), pseudonymize=True, pseudonym_key=dg.EnvVar("SPOTIFY_BULK_PSEUDONYM_KEY")
        ),
    }


def _cli_env(emu, data_dir: Path, dagster_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(dagster_home),
        "SPOTIFY_BULK_STEP_RETRIES": "0",
        "SPOTIFY_BULK_API_URL": emu.bulk_api_url,
        "SPOTIFY_ACCOUNTS_URL": emu.accounts_url,
        "SPOTIFY_CLIENT_ID": emu.config.client_id,
        "SPOTIFY_CLIENT_SECRET": SECRET,
        "SPOTIFY_LICENSORS": LICENSOR,
        "SPOTIFY_BULK_DATA_DIR": str(data_dir),
        "SPOTIFY_BULK_PSEUDONYM_KEY": KEY,
    }


def test_no_secret_value_appears_in_any_output(fault_emulator, tmp_path, monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    faults = FaultPlan.parse(["token_expiry:ttl=1", "malformed:lines=1,report=streams"])
    config = replace(fault_emulator.config, client_secret=SECRET, faults=faults)
    data_dir, cli_data_dir, dagster_home = tmp_path / "data", tmp_path / "cli-data", tmp_path / "dagster_home"
    texts: dict[str, str] = {}
    with start_emulator(config) as emu:
        issued: list[str] = []
        issue = emu.tokens.issue

        def recording_issue(ttl: float) -> str:
            issued.append(issue(ttl))
            return issued[-1]

        emu.tokens.issue = recording_issue  # type: ignore[method-assign]
        monkeypatch.setenv("SPOTIFY_BULK_PSEUDONYM_KEY", KEY)
        run = {"partition_key": str(partition_key(LICENSOR, LOADED_DAY)), "raise_on_error": False}
        with dg.instance_for_test() as instance:
            # 1. refused credentials (a wrong secret in the exception path)
            monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", WRONG)
            resources = _resources(emu, data_dir)
            refused = dg.materialize(
                lake_report_assets(), resources=resources, instance=instance, selection=["users"], **run
            )
            assert not refused.success
            # 2. every report, tokens expiring every second: streams fail on malformed lines, the
            # other four land with their metadata
            monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", SECRET)
            loaded = dg.materialize(lake_report_assets(), resources=resources, instance=instance, **run)
            assert not loaded.success and loaded.get_asset_materialization_events()
            runs = (refused, loaded)
            errors = [e.step_failure_data.error for r in runs for e in r.get_step_failure_events()]
            assert any("credentials" in e.message for e in errors) and any(
                "rejected" in e.message for e in errors
            )
            texts |= {f"run {r.run_id} events": "\n".join(map(repr, r.all_events)) for r in runs}
            texts["exception messages"] = "\n".join(f"{e.message}\n{e.stack}\n{e.cause}" for e in errors)
            # 3. the real CLI, verbose, with its own Dagster home
            dagster_home.mkdir()
            command = [
                "load",
                "--licensor",
                LICENSOR,
                "--report",
                "users",
                "--date",
                str(LOADED_DAY),
                "--verbose",
            ]
            cli = subprocess.run(
                [sys.executable, "-m", "pipeline.cli.main", *command],
                env=_cli_env(emu, cli_data_dir, dagster_home),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert cli.returncode == 0, cli.stderr
            texts |= {"cli stdout": cli.stdout, "cli stderr": cli.stderr}
            needles = _needles(emu.config.client_id, issued)
            captured = capfd.readouterr()
            texts |= {"python logs (DEBUG)": caplog.text, "stdout": captured.out, "stderr": captured.err}
            roots = [data_dir, cli_data_dir, Path(instance.root_directory), dagster_home]
            files, size, hits = _scan(roots, texts, needles)
    assert len(issued) >= 3  # expiry forced refreshes: several tokens to look for
    assert list(data_dir.rglob("_manifest.json")) and (data_dir / "rejects" / "streams").exists()
    users = lake_state(data_dir, LICENSOR, LOADED_DAY)["users"]
    assert users and all(len(u["user_id"]) == 64 for u in users)  # the key was used, not shown
    assert hits == [], hits
    assert _scan([], {"control": f"x{SECRET}x"}, needles)[2] == ["client secret in control"]  # it can see
    values = f"{len(needles)} values ({len(issued)} tokens, client + wrong secret, key, Basic forms)"
    where = "DEBUG logs, Dagster events and storage, exceptions, manifests, lake, rejects, CLI output"
    record("secrets", values, f"0 hits in {files} files + logs, {size / 1e6:.1f} MB ({where})")


def _signed_needles(urls: list[str]) -> dict[str, bytes]:
    """Every signed URL the API handed out: whole, its query and its signature (each a credential)."""
    needles: dict[str, bytes] = {}
    for i, url in enumerate(urls):
        query = url.split("?", 1)[1]
        signature = next(p for p in query.split("&") if p.startswith("X-Goog-Signature=")).split("=", 1)[1]
        needles |= {
            f"signed URL {i + 1}": url.encode(),
            f"signed URL {i + 1} query": query.encode(),
            f"signed URL {i + 1} signature": signature.encode(),
        }
    return needles


def test_no_signed_url_appears_in_any_output(fault_emulator, tmp_path, monkeypatch, caplog, capfd):
    """Signed downloads with an expired URL and storage 5xx: the URLs reach no log, event, error,
    manifest or file (the emulator's own request log, the storage host's side, is not ours)."""
    caplog.set_level(logging.DEBUG)
    faults = FaultPlan.parse(["signed_expired:count=1", "server_error:count=1,scope=storage"])
    config = replace(fault_emulator.config, downloads="signed", faults=faults)
    data_dir, cli_data_dir, dagster_home = tmp_path / "data", tmp_path / "cli-data", tmp_path / "dagster_home"
    texts: dict[str, str] = {}
    with start_emulator(config) as emu:
        signed: list[str] = []
        sign = emu.bulk.sign
        assert sign is not None

        def recording_sign(path: str) -> str:
            signed.append(sign(path))
            return signed[-1]

        emu.bulk.sign = recording_sign
        monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", emu.config.client_secret)
        run = {"partition_key": str(partition_key(LICENSOR, LOADED_DAY)), "raise_on_error": False}
        with dg.instance_for_test() as instance:
            loaded = dg.materialize(
                lake_report_assets(), resources=_resources(emu, data_dir), instance=instance, **run
            )
            assert loaded.success
            texts[f"run {loaded.run_id} events"] = "\n".join(map(repr, loaded.all_events))
            # the CLI, verbose, in this process (so the signing above is seen)
            dagster_home.mkdir()
            env = _cli_env(emu, cli_data_dir, dagster_home) | {
                "SPOTIFY_CLIENT_SECRET": emu.config.client_secret
            }
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            monkeypatch.chdir(tmp_path)
            command = [
                "load",
                "--licensor",
                LICENSOR,
                "--date",
                str(LOADED_DAY),
                "--workers",
                "1",
                "--verbose",
            ]
            assert main(command) == 0
            ours = [r for r in caplog.records if not r.name.startswith("pipeline.emulator")]
            texts["python logs (DEBUG, emulator excluded)"] = "\n".join(
                f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours
            )
            captured = capfd.readouterr()
            texts |= {"stdout": captured.out, "stderr": captured.err}
            needles = _signed_needles(signed)
            roots = [data_dir, cli_data_dir, Path(instance.root_directory), dagster_home]
            files, size, hits = _scan(roots, texts, needles)
        assert emu.storage_requests_with_authorization == 0
    assert len(signed) >= 2 * 5 + 1  # every file of both loads, one expired URL asked again
    assert any("signed URL" in r.getMessage() for r in ours)  # the renewal was logged, URL-free
    assert any(r.name == "httpx" for r in ours)  # httpx logged its requests, queries redacted
    assert hits == [], hits[:5]
    record("secrets", f"{len(signed)} signed URLs", f"0 hits in {files} files + logs, {size / 1e6:.1f} MB")
