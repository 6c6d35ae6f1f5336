"""Fault injection for the emulator, chosen per run.

A fault is written `kind[:option=value[,option=value...]]`; the CLI takes one per `--fault`:

    spotify-bulk emulator --fault rate_limit:count=3,retry_after=1 --fault truncate:count=1

Transport faults hit the first `count` matching requests (after letting `skip` through), so a client
that retries recovers; `count=0` means every matching request. They only replace responses that
would have succeeded (200). Several transport faults compose in plan order: a request gets the first
fault that still has requests to hit, so `rate_limit:count=2 server_error:count=3` fails the first
five matching requests (two 429s, then three 5xx).

| kind           | effect                                                   | options (default)          |
|----------------|----------------------------------------------------------|----------------------------|
| `rate_limit`   | 429 with `Retry-After: N` (seconds)                      | count=2, retry_after=1     |
| `server_error` | a burst of 5xx, statuses cycled                          | count=3, status=500/502/503|
| `reset`        | headers and part of the body, then the connection is reset | count=1, fraction=0.5    |
| `slow`         | sleeps before answering (to exceed a client timeout)     | count=1, delay=2.0         |
| `truncate`     | a cut gzip body whose Content-Length matches the cut     | count=1, fraction=0.5      |
| `token_expiry` | tokens die after N seconds (401), though `expires_in` says 3600 | ttl=2.0             |
| `malformed`    | `lines` lines of each file cut in half (invalid JSON)    | lines=2                    |
| `drift_extra`  | an unknown field added to every record                   | field=new_metric           |
| `drift_missing`| an optional field removed from every record              | field=per report           |
| `drift_type`   | a field given a value of the wrong type on `lines` lines | lines=3, field=per report  |
| `empty`        | the day has an empty listing (per-country reports) or an empty file | -               |
| `unknown_ids`  | the Web API answers `null` for a deterministic share of ids | fraction=0.02           |
| `forbidden`    | a Web API endpoint answers 403 (audio features, newer apps) | endpoint=audio-features |
| `quota_ban`    | 429, `reason: QUOTA_EXCEEDED`, long `Retry-After`        | count=0, retry_after=72000,|
|                | (replaces any status: a ban answers everything)          | scope=webapi (or bulk)     |
| `missing_file` | a file named in a listing answers 404 (transient)        | count=1, scope=files       |
| `signed_expired` | the storage host answers 403 `ExpiredToken`            | count=1, scope=storage     |
| `forbidden_licensor` | every Bulk API request for it answers 403          | licensor=(every licensor)  |

Options every fault takes: `scope` (`any`, `bulk` = listings and files, `files`, `listings`, `token`,
`webapi` = every Web API endpoint, `storage` = the storage host of signed downloads; transport
faults default to `bulk`, `reset` and `truncate` to `files`), `licensor`, `report` (our name or
the API's) and `date` (YYYY-MM-DD) to narrow it down, `endpoint` (a Web API endpoint: `tracks`,
`albums`, `artists`, `audio-features`, `playlists`, `search`); `skip` (transport faults). Content
faults change the served bytes deterministically and are part of the cache key, so they never leak
into the clean cache. `unknown_ids` and `forbidden` are read by the Web API on every request, and
`forbidden_licensor` by the Bulk API, so `set_faults` switches them on and off at once.

Transport faults replace 200 responses; on a redirect (a signed download's 303) every transport
fault but `reset` and `truncate` (no body to cut) applies; `quota_ban` replaces any response, as a
ban answers everything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

from pipeline.reports import report_by_name

TRANSPORT = (
    "rate_limit",
    "server_error",
    "reset",
    "slow",
    "truncate",
    "quota_ban",
    "missing_file",
    "signed_expired",
)
CONTENT = ("malformed", "drift_extra", "drift_missing", "drift_type")
WEB_API = ("unknown_ids", "forbidden")
KINDS = (*TRANSPORT, *CONTENT, "token_expiry", "empty", *WEB_API, "forbidden_licensor")
SCOPES = ("any", "bulk", "files", "listings", "token", "webapi", "storage")
WEB_ENDPOINTS = ("tracks", "albums", "artists", "audio-features", "playlists", "search")
REDIRECTS = (301, 302, 303, 307, 308)
_BODY_CUTS = ("reset", "truncate")
_DEFAULT_COUNT = {"rate_limit": 2, "server_error": 3, "quota_ban": 0}
_DEFAULT_SCOPE = {
    "reset": "files",
    "truncate": "files",
    "unknown_ids": "webapi",
    "forbidden": "webapi",
    "quota_ban": "webapi",
    "missing_file": "files",
    "signed_expired": "storage",
}
_DEFAULT_RETRY_AFTER = {"quota_ban": 72000}
_DEFAULT_LINES = {"drift_type": 3}
_DEFAULT_FRACTION = {"unknown_ids": 0.02}
_DEFAULT_ENDPOINT = {"forbidden": "audio-features"}


@dataclass(frozen=True)
class RequestInfo:
    """What a fault can be narrowed to: the kind of request and the licensor, report and day it is for."""

    scope: str  # token, listings, files, webapi, storage or other
    licensor: str | None = None
    report: str | None = None  # the API's report name
    day: date | None = None
    endpoint: str | None = None  # the Web API endpoint (scope webapi)


@dataclass(frozen=True)
class Fault:
    """One fault of a plan. Options that do not apply to its kind are ignored."""

    kind: str
    count: int = 1
    skip: int = 0
    scope: str = "bulk"
    licensor: str | None = None
    report: str | None = None
    date: date | None = None
    retry_after: int = 1
    status: tuple[int, ...] = (500, 502, 503)
    delay: float = 2.0
    fraction: float = 0.5
    ttl: float = 2.0
    lines: int = 2
    field: str | None = None
    endpoint: str | None = None

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Parse `kind[:option=value,...]`; raise ValueError naming what is wrong."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().replace("-", "_")
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: expected one of {', '.join(KINDS)}")
        values: dict[str, Any] = {
            "kind": kind,
            "count": _DEFAULT_COUNT.get(kind, 1),
            "scope": _DEFAULT_SCOPE.get(kind, "bulk"),
            "lines": _DEFAULT_LINES.get(kind, 2),
            "fraction": _DEFAULT_FRACTION.get(kind, 0.5),
            "endpoint": _DEFAULT_ENDPOINT.get(kind),
            "retry_after": _DEFAULT_RETRY_AFTER.get(kind, 1),
        }
        names = {f.name for f in fields(cls)} - {"kind"}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, sep, raw = item.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or key not in names:
                raise ValueError(f"fault {kind}: bad option {item!r}; options are {', '.join(sorted(names))}")
            values[key] = _convert(kind, key, raw)
        return cls(**values)

    def spec(self) -> str:
        """The canonical text of this fault (only options that differ from a bare `kind`)."""
        base = Fault.parse(self.kind)
        opts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "kind" and value != getattr(base, f.name):
                text = "/".join(map(str, value)) if isinstance(value, tuple) else str(value)
                opts.append(f"{f.name}={text}")
        return self.kind + (":" + ",".join(opts) if opts else "")

    def narrows_to(self, licensor: str | None, report: str | None, day: date | None) -> bool:
        """Whether the licensor/report/date filters of this fault admit the given values."""
        return (
            (self.licensor is None or self.licensor == licensor)
            and (self.report is None or self.report == report)
            and (self.date is None or self.date == day)
        )

    def matches(self, info: RequestInfo) -> bool:
        if self.scope == "bulk":
            in_scope = info.scope in ("listings", "files")
        else:
            in_scope = self.scope in ("any", info.scope)
        return (
            in_scope
            and self.narrows_to(info.licensor, info.report, info.day)
            and (self.endpoint is None or self.endpoint == info.endpoint)
        )


def _convert(kind: str, key: str, raw: str) -> Any:
    try:
        if key in ("count", "skip", "retry_after", "lines"):
            value: Any = int(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if key in ("delay", "fraction", "ttl"):
            number = float(raw)
            if number < 0 or (key == "fraction" and number > 1):
                raise ValueError("out of range")
            return number
        if key == "status":
            return tuple(int(s) for s in raw.split("/") if s)
        if key == "date":
            return date.fromisoformat(raw)
        if key == "scope":
            if raw not in SCOPES:
                raise ValueError(f"expected one of {', '.join(SCOPES)}")
            return raw
        if key == "report":
            return report_by_name(raw).api_name
        if key == "endpoint":
            endpoint = raw.replace("_", "-")
            if endpoint not in WEB_ENDPOINTS:
                raise ValueError(f"expected one of {', '.join(WEB_ENDPOINTS)}")
            return endpoint
        return raw or None
    except ValueError as exc:
        raise ValueError(f"fault {kind}: bad value for {key}: {raw!r} ({exc})") from exc


@dataclass(frozen=True)
class FaultPlan:
    """The faults of a run. Empty by default: a clean emulator."""

    faults: tuple[Fault, ...] = ()

    @classmethod
    def parse(cls, specs: Iterable[str] | None) -> FaultPlan:
        """Parse CLI-style fault strings (one per `--fault`); None or nothing is a clean plan."""
        return cls(tuple(Fault.parse(s) for s in specs or () if s.strip()))

    def __str__(self) -> str:
        return " ".join(f.spec() for f in self.faults) or "none"

    @property
    def transport(self) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.kind in TRANSPORT)

    def token_ttl(self, default: float) -> float:
        ttls = [f.ttl for f in self.faults if f.kind == "token_expiry"]
        return min(ttls) if ttls else default

    def content(self, licensor: str, day: date) -> tuple[Fault, ...]:
        """The content faults that change this licensor-day's files."""
        return tuple(
            replace(f, licensor=None, date=None)  # normalised, so the cache key ignores the filters
            for f in self.faults
            if f.kind in CONTENT and f.narrows_to(licensor, f.report, day)
        )

    def is_empty(self, licensor: str, report: str, day: date) -> bool:
        return any(f.kind == "empty" and f.narrows_to(licensor, report, day) for f in self.faults)

    def forbidden_licensor(self, licensor: str) -> bool:
        """Whether every Bulk API request for `licensor` answers 403 (a `forbidden_licensor` fault)."""
        return any(f.kind == "forbidden_licensor" and f.licensor in (None, licensor) for f in self.faults)

    def forbidden(self, endpoint: str) -> bool:
        """Whether the Web API `endpoint` answers 403 (a `forbidden` fault names it)."""
        return any(f.kind == "forbidden" and f.endpoint in (None, endpoint) for f in self.faults)

    def unknown_share(self, endpoint: str) -> float:
        """The share of ids the Web API `endpoint` pretends not to know (0 without `unknown_ids`)."""
        faults = [f for f in self.faults if f.kind == "unknown_ids" and f.endpoint in (None, endpoint)]
        return max((f.fraction for f in faults), default=0.0)


@dataclass
class FaultState:
    """Counts matching requests per transport fault, so each fires for exactly `count` requests."""

    plan: FaultPlan
    _seen: list[int] = field(default_factory=list)
    _fired: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._seen = [0] * len(self.plan.faults)
        self._fired = [0] * len(self.plan.faults)

    def pick(self, info: RequestInfo, status: int = 200) -> tuple[Fault, int] | None:
        """The transport fault to apply to this request (answered `status`), with how many times it fired."""
        with self._lock:
            for i, fault in enumerate(self.plan.faults):
                if (
                    fault.kind not in TRANSPORT
                    or not fault.matches(info)
                    or not _replaces(fault.kind, status)
                ):
                    continue
                self._seen[i] += 1
                if self._seen[i] > fault.skip and (fault.count == 0 or self._fired[i] < fault.count):
                    self._fired[i] += 1
                    return fault, self._fired[i] - 1
        return None


def _replaces(kind: str, status: int) -> bool:
    """Whether a transport fault of `kind` may replace a response of `status` (see the module doc)."""
    if status == 200 or kind == "quota_ban":
        return True
    return status in REDIRECTS and kind not in _BODY_CUTS
