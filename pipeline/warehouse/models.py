"""Discover the SQL models in `sql/`: header, parameters and dependencies, in dependency order.

Dependencies are read from the SQL itself (names of other models, `lake.<table>` and
`seeds.<name>` it mentions), so there is no hand-kept list to drift from the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.reports import TABLES_BY_NAME

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"
LAYERS = ("staging", "marts")
HEADER_KEYS = frozenset({"grain", "key", "partitioned_by", "rolling_days"})

_HEADER_LINE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NOISE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)
_TOKEN = re.compile(r"\"?\b([A-Za-z_][A-Za-z0-9_]*)\b\"?(?:\s*\.\s*\"?([A-Za-z_][A-Za-z0-9_]*)\"?)?")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class ModelError(ValueError):
    """A model file is malformed, or the models form a cycle: the message names the file."""


@dataclass(frozen=True)
class Model:
    """One SQL model: a staging view or a mart materialized as Parquet."""

    name: str
    layer: str
    path: Path
    sql: str
    description: str
    grain: str
    key: tuple[str, ...]
    partitioned: bool
    rolling_days: int
    depends_on: tuple[str, ...]
    lake_tables: tuple[str, ...]
    seeds: tuple[str, ...]

    @property
    def materialized(self) -> bool:
        """Marts are written to Parquet; staging models stay views over the lake."""
        return self.layer == "marts"


def _parse_header(path: Path, text: str) -> tuple[str, dict[str, str]]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("--"):
        raise ModelError(f"{path}: must start with a comment '-- {path.stem}: what one row is'")
    first = lines[0].lstrip("-").strip()
    name, _, description = first.partition(":")
    if name.strip() != path.stem or not description.strip():
        raise ModelError(f"{path}: first line must be '-- {path.stem}: <description>'")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line.startswith("--"):
            break
        match = _HEADER_LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if key not in HEADER_KEYS:
            raise ModelError(
                f"{path}: unknown header field {key!r} (known: {', '.join(sorted(HEADER_KEYS))})"
            )
        fields[key] = value
    missing = {"grain", "key", "partitioned_by"} - set(fields)
    if missing:
        raise ModelError(f"{path}: header lacks {', '.join(sorted(missing))}")
    return description.strip(), fields


def _references(sql: str) -> tuple[set[str], set[str], set[str]]:
    """(identifiers, lake tables, seeds) the SQL mentions, comments and string literals removed."""
    names: set[str] = set()
    lake: set[str] = set()
    seeds: set[str] = set()
    for match in _TOKEN.finditer(_NOISE.sub(" ", sql)):
        first, second = match.group(1).lower(), (match.group(2) or "").lower()
        if first == "lake" and second:
            lake.add(second)
        elif first == "seeds" and second:
            seeds.add(second)
        else:
            names.add(first)
    return names, lake, seeds


def _load(path: Path, layer: str, model_names: set[str], sql_root: Path) -> Model:
    text = path.read_text(encoding="utf-8")
    description, header = _parse_header(path, text)
    sql = text.strip().rstrip(";").strip()
    names, lake, seeds = _references(sql)
    unknown = sorted(lake - set(TABLES_BY_NAME) - set(CATALOG_TABLES))
    if unknown:
        raise ModelError(f"{path}: unknown lake table(s) {', '.join(unknown)}")
    for seed in sorted(seeds):
        if not (sql_root / "seeds" / f"{seed}.csv").is_file():
            raise ModelError(f"{path}: seed {seed!r} not found at sql/seeds/{seed}.csv")
    partitioned = header["partitioned_by"].lower() == "date"
    if header["partitioned_by"].lower() not in ("date", "none"):
        raise ModelError(f"{path}: partitioned_by must be 'date' or 'none'")
    params = set(_PARAM.findall(_NOISE.sub(" ", sql)))
    expected = {"start", "end"} if partitioned and layer == "marts" else set()
    if params != expected:
        raise ModelError(
            f"{path}: uses parameters {sorted(params) or 'none'}; "
            f"{'a date-partitioned mart filters on $start and $end' if expected else 'expected none'}"
        )
    key = (
        () if header["key"].lower().startswith("none") else tuple(k.strip() for k in header["key"].split(","))
    )
    if layer == "marts" and not key:
        raise ModelError(f"{path}: a mart needs a key")
    if path.stem in names:
        raise ModelError(f"{path}: a model cannot read itself")
    depends = sorted(names & model_names)
    return Model(
        name=path.stem,
        layer=layer,
        path=path,
        sql=sql,
        description=description,
        grain=header["grain"],
        key=key,
        partitioned=partitioned,
        rolling_days=int(header.get("rolling_days", "0") or 0),
        depends_on=tuple(depends),
        lake_tables=tuple(sorted(lake)),
        seeds=tuple(sorted(seeds)),
    )


def discover_models(sql_root: Path = SQL_ROOT) -> tuple[Model, ...]:
    """Every model under `sql_root/staging` and `sql_root/marts`, upstream before downstream."""
    paths = {layer: sorted((sql_root / layer).glob("*.sql")) for layer in LAYERS}
    names: set[str] = set()
    for layer_paths in paths.values():
        for path in layer_paths:
            if not _NAME.fullmatch(path.stem):
                raise ModelError(f"{path}: model names are lower_snake_case")
            if path.stem in names or path.stem in TABLES_BY_NAME:
                raise ModelError(f"{path}: the name {path.stem!r} is already taken")
            names.add(path.stem)
    models = [_load(p, layer, names, sql_root) for layer in LAYERS for p in paths[layer]]
    by_name = {m.name: m for m in models}
    for model in models:
        for dep in model.depends_on:
            if model.layer == "staging" and by_name[dep].layer == "marts":
                raise ModelError(f"{model.path}: a staging model cannot read the mart {dep}")
    rank = {m.name: LAYERS.index(m.layer) for m in models}
    graph = {m.name: m.depends_on for m in models}
    return tuple(by_name[n] for n in topological_order(graph, rank=rank))


def topological_order(graph: dict[str, tuple[str, ...]], *, rank: dict[str, int] | None = None) -> list[str]:
    """Names ordered so every node follows its dependencies (ties by rank, then name); a cycle raises."""
    remaining = {node: set(deps) for node, deps in graph.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(
            (n for n, deps in remaining.items() if not deps), key=lambda n: ((rank or {}).get(n, 0), n)
        )
        if not ready:
            cycle = " -> ".join(sorted(remaining))
            raise ModelError(f"models depend on each other in a cycle: {cycle}")
        for node in ready:
            order.append(node)
            del remaining[node]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
