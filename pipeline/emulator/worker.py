"""Worker process entry point: `python -m pipeline.emulator.worker ROOT JSON` generates days into a cache.

Kept apart from the package's imports so running it as `__main__` imports nothing twice.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from pipeline.emulator.cache import DayCache
from pipeline.emulator.faults import Fault
from pipeline.emulator.generate import DaySpec


def main(root: str, payload: str) -> None:
    """Generate each day of the JSON payload (DaySpec fields plus content fault strings)."""
    cache = DayCache(Path(root))
    for item in json.loads(payload):
        faults = tuple(Fault.parse(text) for text in item.pop("faults"))
        cache.get(DaySpec(**{**item, "day": date.fromisoformat(item["day"])}), faults)


if __name__ == "__main__":
    main(*sys.argv[1:3])
