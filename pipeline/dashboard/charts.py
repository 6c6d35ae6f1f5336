"""Vega-Lite charts (through Altair, which ships with Streamlit) with numbers formatted for people.

Plain functions from a polars frame to a chart, so the page script only places them.
"""

from __future__ import annotations

import math

import altair as alt
import polars as pl

COUNT = ",d"  # 12,345
SHARE = ".1%"  # 12.3%
MAX_DAY_TICKS = 10


def over_time(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    color: str,
    title: str,
    fmt: str = COUNT,
    height: int = 340,
    legend: str = "top",
) -> alt.Chart:
    """One line per `color` over days, with points (a single day still shows) and whole-day ticks."""
    days = (frame[x].max() - frame[x].min()).days + 1 if frame.height else 1  # type: ignore[operator]
    ticks = {"interval": "day", "step": max(1, math.ceil(days / MAX_DAY_TICKS))}
    return (
        alt.Chart(frame, title=title, height=height)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:T", title=None, axis=alt.Axis(format="%b %d", tickCount=ticks)),
            y=alt.Y(f"{y}:Q", title=None, axis=alt.Axis(format="~s" if fmt == COUNT else fmt)),
            color=alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient=legend, labelLimit=220)),
            tooltip=[
                alt.Tooltip(f"{x}:T", title="date", format="%Y-%m-%d"),
                alt.Tooltip(f"{color}:N"),
                alt.Tooltip(f"{y}:Q", format=fmt),
            ],
        )
    )


def bars(
    frame: pl.DataFrame,
    *,
    category: str,
    value: str,
    title: str,
    color: str | None = None,
    fmt: str = COUNT,
    sort_by_value: bool = True,
    height: int | None = None,
) -> alt.Chart:
    """Horizontal bars (long category names stay readable), biggest first unless told otherwise.

    Streamlit fits the whole chart (title, legend, axes) into `height`, so it grows with the bars."""
    sort = "-x" if sort_by_value else None
    encoding: dict = {
        "y": alt.Y(f"{category}:N", title=None, sort=sort),
        "x": alt.X(f"{value}:Q", title=None, axis=alt.Axis(format="~s" if fmt == COUNT else fmt)),
        "tooltip": [alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=fmt)],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="top"))
        encoding["tooltip"].insert(1, alt.Tooltip(f"{color}:N"))
    rows = frame[category].n_unique() if frame.height else 1
    height = height or 90 + (40 if color else 0) + 26 * rows
    return alt.Chart(frame, title=title, height=height).mark_bar().encode(**encoding)
