"""Spotify ids in the three forms seen on the wire, and the one the lake keeps.

A track id arrives as base62 (22 characters, alphabet `0-9a-zA-Z`), as a `spotify:track:<base62>`
URI, or as a 32-hex "gid" (the same 128-bit number in hex, as Spotify's internal services write
it). `normalize_track_id` maps all three to base62, so joins never see two spellings of one track.
"""

from __future__ import annotations

import re

BASE62_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
BASE62_LENGTH = 22
_VALUE = {c: i for i, c in enumerate(BASE62_ALPHABET)}
_BASE62 = re.compile(r"[0-9A-Za-z]{22}")
_GID = re.compile(r"[0-9a-fA-F]{32}")
_TRACK_URI = "spotify:track:"


def int_to_base62(number: int) -> str:
    """A 128-bit number as a 22-character base62 id (left-padded with '0')."""
    if not 0 <= number < 1 << 128:
        raise ValueError("a Spotify id is a 128-bit number")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(BASE62_LENGTH, "0")


def base62_to_int(value: str) -> int:
    if not _BASE62.fullmatch(value):
        raise ValueError(f"not a base62 id: {value!r}")
    number = 0
    for char in value:
        number = number * 62 + _VALUE[char]
    if number >= 1 << 128:
        raise ValueError(f"base62 id out of the 128-bit range: {value!r}")
    return number


def gid_to_base62(gid: str) -> str:
    """The base62 id of a 32-hex gid."""
    if not _GID.fullmatch(gid):
        raise ValueError(f"not a 32-hex gid: {gid!r}")
    return int_to_base62(int(gid, 16))


def base62_to_gid(value: str) -> str:
    """The 32-hex (lower-case) gid of a base62 id."""
    return f"{base62_to_int(value):032x}"


def normalize_track_id(value: object) -> str | None:
    """The base62 id of a track id written as base62, `spotify:track:` URI or gid; None if it is none."""
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix(_TRACK_URI)
    if _BASE62.fullmatch(text):
        return text
    if _GID.fullmatch(text):
        return gid_to_base62(text)
    return None
