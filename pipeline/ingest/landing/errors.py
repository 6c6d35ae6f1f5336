"""Why a landing failed, as exception types callers can tell apart."""

from __future__ import annotations

from pathlib import Path


class LandingError(Exception):
    """Base class: the partition was not published, the previous version is untouched."""


class CorruptArchiveError(LandingError):
    """An archive file is not a complete gzip stream (truncated download, bit rot, not gzip)."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"corrupt or truncated gzip archive {path}: {detail}")
        self.path = path
        self.detail = detail


class ArchiveTooLargeError(LandingError):
    """An archive decompresses to more than the allowed size (a zip bomb or a runaway file)."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(
            f"archive {path} decompresses to more than {limit:,} bytes; "
            "raise max_decompressed_bytes if the file is genuine"
        )
        self.path = path
        self.limit = limit


class TooManyRejectsError(LandingError):
    """More lines were rejected than the allowed share: the partition is not published."""

    def __init__(
        self,
        *,
        report: str,
        licensor: str,
        day: str,
        rejected: int,
        lines: int,
        threshold: float,
        rejects_path: Path,
    ) -> None:
        share = rejected / lines if lines else 0.0
        super().__init__(
            f"{report} for licensor {licensor} on {day}: {rejected:,} of {lines:,} lines rejected "
            f"({share:.2%}), more than the allowed {threshold:.2%}; partition not published; "
            f"see {rejects_path}"
        )
        self.report = report
        self.licensor = licensor
        self.day = day
        self.rejected = rejected
        self.lines = lines
        self.share = share
        self.threshold = threshold
        self.rejects_path = rejects_path
