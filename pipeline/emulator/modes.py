"""Content modes: the renamed fields and mixed track id forms of `EmulatorConfig`, applied to lines.

Both rewrite the lines of a file as they are written (a `LineMutator`, like content faults), by
plain string replacement of known-safe JSON keys, so they cost little and stay byte-deterministic:
which lines carry which id form depends only on the line's position in its file.
"""

from __future__ import annotations

from pipeline.emulator.gzlines import LineMutator
from pipeline.spotify_ids import base62_to_gid

# report -> (contract key, warehouse key); keys are matched with their quotes and colon
WAREHOUSE_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "streams": (
        ("source", "stream_source"),
        ("source_uri", "stream_source_uri"),
        ("cached", "stream_cached"),
        ("device_type", "stream_device"),
        ("os", "stream_os"),
        ("user_id", "customer_id"),
        ("country", "country_code"),
    ),
    "users": (("user_id", "customer_id"), ("country", "country_code"), ("product", "user_product_type")),
}
WAREHOUSE_NAMES["sub_30_sec_streams"] = WAREHOUSE_NAMES["streams"]
ID_FORM_REPORTS = ("streams", "sub_30_sec_streams", "tracks")
_EVERY, _URI_AT, _GID_AT = 10, 3, 7  # line k is a URI when k % 10 == 3, a gid when k % 10 == 7
_TRACK_KEY = '"track_id":"'


def _replaced(lines: list[str], pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """The lines with each (old, new) text pair replaced, in order."""
    if not pairs:
        return lines
    text = "".join(lines)
    for old, new in pairs:
        text = text.replace(old, new)
    return text.splitlines(keepends=True)


def _rename(report: str, lines: list[str]) -> list[str]:
    pairs = WAREHOUSE_NAMES.get(report, ())
    return _replaced(lines, tuple((f'"{old}":', f'"{new}":') for old, new in pairs))


def _id_form(line: str, position: int) -> str:
    """The line with its `track_id` written as a URI or gid, if its position says so."""
    form = position % _EVERY
    if form not in (_URI_AT, _GID_AT):
        return line
    start = line.find(_TRACK_KEY) + len(_TRACK_KEY)
    if start < len(_TRACK_KEY):
        return line
    end = line.index('"', start)
    track_id = line[start:end]
    written = f"spotify:track:{track_id}" if form == _URI_AT else base62_to_gid(track_id)
    return line[:start] + written + line[end:]


def mode_mutator(field_names: str, track_id_forms: str) -> LineMutator | None:
    """The mutator writing files in the given modes, or None for the contract's defaults."""
    rename = field_names == "warehouse"
    mixed = track_id_forms == "mixed"
    if not (rename or mixed):
        return None

    def mutate(report: str, lines: list[str], first: int) -> list[str]:
        if mixed and report in ID_FORM_REPORTS:
            lines = [_id_form(line, first + i) for i, line in enumerate(lines)]
        return _rename(report, lines) if rename else lines

    return mutate


# The forms a public production client of the Bulk API reads (see the wire contract): stream flags
# under `_flag` names, `completion_flag` as "Y"/"N"; users' gender in upper case, NEUTRAL for non-binary.
PUBLIC_CLIENT_FORMS: dict[str, tuple[tuple[str, str], ...]] = {
    "streams": (
        ('"completion":true', '"completion_flag":"Y"'),
        ('"completion":false', '"completion_flag":"N"'),
        ('"discovery":', '"discovery_flag":'),
    ),
    "users": (
        ('"gender":"female"', '"gender":"FEMALE"'),
        ('"gender":"male"', '"gender":"MALE"'),
        ('"gender":"non_binary"', '"gender":"NEUTRAL"'),
        ('"gender":"unknown"', '"gender":"UNKNOWN"'),
    ),
}
PUBLIC_CLIENT_FORMS["sub_30_sec_streams"] = PUBLIC_CLIENT_FORMS["streams"]


def form_mutator(field_forms: str) -> LineMutator | None:
    """The mutator writing a public production client's field forms, or None for the contract's."""
    if field_forms != "public_client":
        return None

    def mutate(report: str, lines: list[str], first: int) -> list[str]:
        return _replaced(lines, PUBLIC_CLIENT_FORMS.get(report, ()))

    return mutate


def chain(*mutators: LineMutator | None) -> LineMutator | None:
    """One mutator applying each given one in order (None for none)."""
    present = [m for m in mutators if m is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def mutate(report: str, lines: list[str], first: int) -> list[str]:
        for each in present:
            lines = each(report, lines, first)
        return lines

    return mutate
