"""The Bulk API: listings that browse `/{licensor}/enhanced/{report}/{yyyy}/{m}/{d}[/{country}]`, and files.

Listings are JSON arrays of `{"uri": ...}` with uris relative to the Bulk API base. Month and day
segments are zero-padded for every other licensor only, so a client must follow the listed uris;
requests are accepted either way. Days outside the availability window answer 404 and are absent
from listings. A licensor the emulator does not know answers 404 at every level (its root
included); a `forbidden_licensor` fault makes a known one answer 403. With `downloads="signed"` a
file request answers a redirect to a signed URL on the storage host (`storage.py`) instead of the body.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.emulator.accounts import TokenStore
from pipeline.emulator.cache import CachedDay, DayCache
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.faults import Fault, FaultPlan, RequestInfo
from pipeline.emulator.generate import REPORTS, STREAM_REPORTS, DaySpec
from pipeline.emulator.gzlines import EMPTY_GZIP
from pipeline.emulator.router import Request, Response, api_error, json_response

BASE_PATH = "/v1/analytics"
# The expected() keys each report's content feeds.
_EXPECTED_KEYS = {
    "streams": ("streams",),
    "sub_30_sec_streams": ("sub30_streams",),
    "users": ("users",),
    "tracks": ("tracks",),
    "aggregatedstreams": ("aggregated_summary", "aggregated_count", "aggregated_skips", "aggregated_saves"),
}


@dataclass
class BulkAPI:
    """Serves the Bulk API from generated days. `plan` and `version` are read on every request."""

    config: EmulatorConfig
    tokens: TokenStore
    cache: DayCache
    plan: Callable[[], FaultPlan]
    version: Callable[[str, datetime.date], int]  # re-publication version of a licensor-day
    sign: Callable[[str], str] | None = None  # Bulk API file path -> signed storage URL (signed mode)

    def spec(self, licensor: str, day: datetime.date) -> tuple[DaySpec, tuple[Fault, ...]]:
        """What a licensor-day's content is generated from now: its spec and content faults."""
        cfg = self.config
        spec = DaySpec(
            cfg.seed,
            licensor,
            day,
            cfg.rows_per_day,
            self.version(licensor, day),
            *cfg.content_modes,
            fraud=cfg.fraud.token,
        )
        return spec, self.plan().content(licensor, day)

    def day(self, licensor: str, day: datetime.date) -> CachedDay:
        return self.cache.get(*self.spec(licensor, day))

    def expected(self, licensor: str, day: datetime.date) -> dict[str, int]:
        totals = self.day(licensor, day).expected
        for report, keys in _EXPECTED_KEYS.items():
            if self.plan().is_empty(licensor, report, day):
                totals.update(dict.fromkeys(keys, 0))
        return totals

    def _uri(self, licensor: str, *parts: object) -> dict[str, str]:
        return {"uri": "/" + "/".join((licensor, "enhanced", *map(str, parts)))}

    def _segment(self, licensor: str, number: int) -> str:
        return f"{number:02d}" if self.config.padded(licensor) else str(number)

    def handle(self, request: Request) -> Response:
        if not self.tokens.authorized(request):
            return api_error(
                401, "Invalid access token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        segments = [s for s in request.params.get("rest", "").split("/") if s]
        found = self.locate(segments)
        if found.info.scope == "other":  # an error: still a Bulk API request (a quota ban answers it too)
            found.info = RequestInfo("listings", segments[0] if segments else None)
        if self.sign is None or found.status != 200 or found.info.scope != "files":
            return found
        location = self.sign("/" + "/".join(segments))
        return Response(self.config.redirect_status, headers={"Location": location}, info=found.info)

    def locate(self, segments: list[str]) -> Response:
        """What the path `/{segments...}` under the base answers, a file's body included (no auth)."""
        if not segments:
            return api_error(404, "Not found")
        licensor = segments[0]
        if licensor not in self.config.licensors:
            return api_error(404, f"Unknown licensor {licensor!r}")
        if self.plan().forbidden_licensor(licensor):
            return api_error(403, f"Licensor {licensor!r} is not available to this client")
        if len(segments) < 2 or segments[1] != "enhanced":
            return api_error(404, "Not found")
        if len(segments) == 2:
            return json_response(
                200, [self._uri(licensor, r) for r in REPORTS], RequestInfo("listings", licensor)
            )
        report = segments[2]
        if report not in REPORTS:
            return api_error(404, f"Unknown report {report!r}")
        numbers = [int(s) for s in segments[3:6] if s.isascii() and s.isdigit() and len(s) <= 4]
        if len(numbers) != len(segments[3:6]):
            return api_error(404, "Not found")
        return self._browse(licensor, report, numbers, segments[6:])

    def _browse(self, licensor: str, report: str, numbers: list[int], rest: list[str]) -> Response:
        first, last = self.config.available()
        listing = RequestInfo("listings", licensor, report)
        if len(numbers) < 3:  # a year or month listing: what of it is available
            days = [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]
            days = [d for d in days if [d.year, d.month][: len(numbers)] == numbers]
            if numbers and not days:
                return api_error(404, "Not available")
            keys = sorted({(d.year, d.month, d.day)[: len(numbers) + 1] for d in days})
            items = [
                self._uri(licensor, report, *k[:1], *(self._segment(licensor, n) for n in k[1:]))
                for k in keys
            ]
            return json_response(200, items, listing)
        try:
            day = datetime.date(*numbers)
        except ValueError:
            return api_error(404, "Not found")
        if not first <= day <= last:
            return api_error(404, "Not available")
        listing = RequestInfo("listings", licensor, report, day)
        files = RequestInfo("files", licensor, report, day)
        empty = self.plan().is_empty(licensor, report, day)
        parts = (report, day.year, self._segment(licensor, day.month), self._segment(licensor, day.day))
        if report in STREAM_REPORTS:
            countries = [] if empty else self.day(licensor, day).countries(report)
            if not rest:
                return json_response(200, [self._uri(licensor, *parts, c) for c in countries], listing)
            if len(rest) != 1 or rest[0] not in countries:
                return api_error(404, "Not found")
            return self._file(self.day(licensor, day), report, day, rest[0], files)
        if rest:
            return api_error(404, "Not found")
        if empty:
            return Response(200, EMPTY_GZIP, _file_headers(report, day, None), info=files)
        return self._file(self.day(licensor, day), report, day, None, files)

    @staticmethod
    def _file(
        cached: CachedDay, report: str, day: datetime.date, country: str | None, info: RequestInfo
    ) -> Response:
        headers = _file_headers(report, day, country)
        headers["ETag"] = f'"{cached.path.name}"'
        return Response(200, headers=headers, file=cached.file(report, country), info=info)


def _file_headers(report: str, day: datetime.date, country: str | None) -> dict[str, str]:
    name = f"{report}_{day.isoformat()}" + (f"_{country}" if country else "") + ".json.gz"
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
