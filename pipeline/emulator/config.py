"""How an emulator run is configured: the data, the faults and the API variants ("modes")."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.emulator.faults import FaultPlan
from pipeline.emulator.fraud import FraudPlan
from pipeline.layout import safe_name

# mode -> the values it accepts (the first is the default); numeric modes are checked in the config
MODE_CHOICES: dict[str, tuple[str, ...]] = {
    "downloads": ("direct", "signed"),
    "storage_content_encoding": ("none", "gzip"),
    "aggregated_shape": ("nested", "totals", "coded"),
    "field_names": ("contract", "warehouse"),
    "track_id_forms": ("base62", "mixed"),
    "web_api_mode": ("development", "extended"),
    "day_shape": ("uniform", "zipf", "single"),
    "field_forms": ("contract", "public_client"),
}
REDIRECT_STATUSES = (303, 302, 307)
_NUMERIC_MODES = {"redirect_status": int, "signed_url_ttl_seconds": int}
_TEXT_MODES = ("app_user",)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that determines what the emulator serves.

    `rows_per_day` is the number of stream rows (streams + sub-30) per licensor-day. `today=None`
    follows the real UTC date; tests pin it. Days after `today - lag_days` and before
    `today - history_days` are not available. `cache_dir=None` uses a temporary directory removed
    when the emulator stops.

    Modes (the API variants the wire contract says a client must survive; `modes_from_options`
    parses them from `--mode key=value` strings):

    - `downloads`: `"direct"` (a file request answers 200 with the body) or `"signed"` (it answers
      `redirect_status`, 303 by default or 302/307, with `Location:` a signed URL on a second
      loopback origin, the storage host, valid `signed_url_ttl_seconds`; that host refuses any
      request carrying `Authorization` with 400 and expired or tampered URLs with 403).
    - `storage_content_encoding`: how the storage host labels the gzip body: `"none"`
      (`Content-Type: application/gzip`) or `"gzip"` (`Content-Encoding: gzip`).
    - `aggregated_shape`: `"nested"` (country x gender x age, listeners, artists), `"totals"`
      (country totals only, no `licensor`/`listeners`/`artists`/`uri`s, saves by product on top) or
      `"coded"` (a public production client's: country codes, upper-case genders and age buckets
      directly under each level, a `"total"` at each, no level names; `aggregate_shapes.py`).
    - `field_forms`: `"contract"` or `"public_client"` (the forms a public production client reads:
      streams flags as `completion_flag` "Y"/"N" and `discovery_flag`, users' gender upper case with
      `NEUTRAL` for non-binary; `modes.form_mutator`).
    - `field_names`: `"contract"` (the names of the wire contract) or `"warehouse"` (streams and
      users use `stream_source`, `stream_source_uri`, `stream_cached`, `stream_device`,
      `stream_os`, `customer_id`, `country_code`, `user_product_type`).
    - `track_id_forms`: `"base62"` or `"mixed"` (a share of streams, sub-30 and tracks lines carry
      `track_id` as a `spotify:track:` URI or as a 32-hex gid).
    - `web_api_mode`: `"development"` (the default, most licensors' app: no batch endpoints, no popularity,
      followers or label, no audio features, search limit 10, playlist items only for playlists
      `app_user` owns, editorial playlists 404) or `"extended"` (extended quota: everything).
    - `day_shape`: how a day's stream rows spread over files: `"uniform"` (the default: one file per
      country, country shares from `audience.COUNTRY_WEIGHTS` perturbed per licensor, generated row
      by row), `"zipf"` (one file per country of 60, Zipf shares, the US ~27 %, as a major label's
      day) or `"single"` (the same rows in one file per report, countries mixed, listed as `all`).
      Both are generated column-wise with polars, ~250 k rows per CPU-second (`vectorized.py`).
    """

    seed: int = 42
    rows_per_day: int = 2000
    licensors: tuple[str, ...] = ("acme", "globex")
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 - the emulator's public demo credential
    lag_days: int = 1
    today: datetime.date | None = None
    history_days: int = 400
    cache_dir: Path | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    downloads: str = "direct"
    redirect_status: int = 303
    signed_url_ttl_seconds: int = 60
    storage_content_encoding: str = "none"
    aggregated_shape: str = "nested"
    field_names: str = "contract"
    track_id_forms: str = "base62"
    web_api_mode: str = "development"
    day_shape: str = "uniform"
    field_forms: str = "contract"
    app_user: str = "emulator-app-user"  # the Web API app's own user: owner of some playlists
    fraud: FraudPlan = field(default_factory=FraudPlan)  # labelled artificial streaming (`fraud.py`), off

    def __post_init__(self) -> None:
        for name in self.licensors:
            safe_name(name, what="licensor")
        if self.rows_per_day < 1:
            raise ValueError("rows_per_day must be at least 1")
        if self.lag_days < 0 or self.history_days < self.lag_days:
            raise ValueError("need 0 <= lag_days <= history_days")
        for mode, choices in MODE_CHOICES.items():
            if getattr(self, mode) not in choices:
                raise ValueError(f"{mode} must be one of {', '.join(choices)}")
        if self.redirect_status not in REDIRECT_STATUSES:
            raise ValueError(f"redirect_status must be one of {', '.join(map(str, REDIRECT_STATUSES))}")
        if self.signed_url_ttl_seconds < 0:
            raise ValueError("signed_url_ttl_seconds must not be negative")

    @property
    def content_modes(self) -> tuple[str, str, str, str, str]:
        """The modes that change file bytes, in `DaySpec`'s order: (aggregated_shape, field_names,
        track_id_forms, day_shape, field_forms)."""
        return self.aggregated_shape, self.field_names, self.track_id_forms, self.day_shape, self.field_forms

    def current_day(self) -> datetime.date:
        return self.today or datetime.datetime.now(datetime.UTC).date()

    def available(self) -> tuple[datetime.date, datetime.date]:
        """The first and last day the Bulk API serves, today."""
        today = self.current_day()
        return today - datetime.timedelta(days=self.history_days), today - datetime.timedelta(
            days=self.lag_days
        )

    def padded(self, licensor: str) -> bool:
        """Whether listings zero-pad month and day for this licensor (every other licensor does not)."""
        return self.licensors.index(licensor) % 2 == 0

    def modes(self) -> dict[str, Any]:
        """The mode fields and their values (for printing what a run serves)."""
        names = (*MODE_CHOICES, *_NUMERIC_MODES, *_TEXT_MODES)
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}


def modes_from_options(options: dict[str, str]) -> dict[str, Any]:
    """`EmulatorConfig` keyword arguments from `--mode key=value` options; ValueError names a bad one.

    Keys: `downloads` (direct|signed), `redirect_status` (303|302|307), `signed_url_ttl_seconds`
    (int), `storage_content_encoding` (none|gzip), `aggregated_shape` (nested|totals|coded),
    `field_forms` (contract|public_client),
    `field_names` (contract|warehouse), `track_id_forms` (base62|mixed), `web_api_mode`
    (development|extended), `day_shape` (uniform|zipf|single), `app_user` (text). Values are
    checked as `EmulatorConfig` checks them.
    """
    known = (*MODE_CHOICES, *_NUMERIC_MODES, *_TEXT_MODES)
    out: dict[str, Any] = {}
    for raw_key, raw in options.items():
        key, value = raw_key.strip().replace("-", "_"), raw.strip()
        if key not in known:
            raise ValueError(f"unknown mode {raw_key!r}: expected one of {', '.join(known)}")
        if key in MODE_CHOICES and value not in MODE_CHOICES[key]:
            raise ValueError(f"mode {key}: {value!r} is not one of {', '.join(MODE_CHOICES[key])}")
        if key in _NUMERIC_MODES:
            try:
                out[key] = _NUMERIC_MODES[key](value)
            except ValueError:
                raise ValueError(f"mode {key}: {value!r} is not a whole number") from None
        else:
            out[key] = value
    EmulatorConfig(**out)  # the config's own checks (redirect status, ranges)
    return out


def parse_modes(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """`modes_from_options` for CLI-style `key=value` strings (one per `--mode`)."""
    options: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"bad mode {item!r}: expected key=value")
        options[key] = value
    return modes_from_options(options)
