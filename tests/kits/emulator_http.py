"""Helpers for the emulator's tests: constants and a tiny Bulk API client over real HTTP.

(A uniquely named module rather than `conftest`, so test modules can import it unambiguously.)
"""

from __future__ import annotations

import gzip
import json
from datetime import date

import httpx

from pipeline.emulator import RunningEmulator
from pipeline.emulator.generate import STREAM_REPORTS

TODAY = date(2026, 11, 23)
DAY = date(2026, 11, 20)  # available: today - lag (1 day) is the last one
UNKNOWN = "0" * 22  # a well-formed id no catalog has


class Bulk:
    """Just enough of a client to browse the emulator the way a real client must: by listed uris."""

    def __init__(self, emu: RunningEmulator, timeout: float = 10.0) -> None:
        self.emu = emu
        self.http = httpx.Client(timeout=timeout)
        self.token = self.new_token()

    def new_token(self) -> str:
        cfg = self.emu.config
        response = self.http.post(
            self.emu.accounts_url,
            auth=(cfg.client_id, cfg.client_secret),
            data={"grant_type": "client_credentials"},
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def get(self, uri: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.get(self.emu.bulk_api_url + uri, headers=headers, **kwargs)

    def listing(self, uri: str) -> list[str]:
        response = self.get(uri)
        assert response.status_code == 200, (uri, response.status_code, response.text)
        uris = [item["uri"] for item in response.json()]
        assert all(u.startswith(uri.rstrip("/") + "/") for u in uris), uris
        return uris

    def day_uri(self, licensor: str, report: str, day: date) -> str:
        """Walk report -> year -> month -> day by following listed uris only."""
        uri = f"/{licensor}/enhanced/{report}"
        for part in (day.year, day.month, day.day):
            matches = [u for u in self.listing(uri) if int(u.rsplit("/", 1)[1]) == part]
            assert len(matches) == 1, (uri, part)
            uri = matches[0]
        return uri

    def download(self, uri: str) -> bytes:
        response = self.get(uri)
        assert response.status_code == 200, (uri, response.status_code)
        assert int(response.headers["content-length"]) == len(response.content)
        return response.content

    def files(self, licensor: str, report: str, day: date) -> dict[str, bytes]:
        """The day's files by leaf uri (one per country for per-country reports)."""
        uri = self.day_uri(licensor, report, day)
        leaves = self.listing(uri) if report in STREAM_REPORTS else [uri]
        return {leaf: self.download(leaf) for leaf in leaves}

    def records(self, licensor: str, report: str, day: date) -> list[dict]:
        return [rec for data in self.files(licensor, report, day).values() for rec in decode(data)]

    def close(self) -> None:
        self.http.close()


class Web:
    """A bare Web API caller with a token from the emulator's Accounts service."""

    def __init__(self, emu) -> None:
        self.emu = emu
        self.token = Bulk(emu).token

    def get(self, path: str, **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(self.emu.web_api_url + path, params=params, headers=headers, timeout=10)

    def batch(self, endpoint: str, ids) -> httpx.Response:
        return self.get(f"/{endpoint}", ids=",".join(ids))


def decode(data: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
