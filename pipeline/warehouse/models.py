"""Discover the SQL models in `sql/`: header, parameters and dependencies, in dependency order.

Dependencies are read from the SQL itself (names of other models, `lake.<table>` and
`seeds.<name>` it mentions), so there is no hand-kept list to drift from the files.

`sql/accumulators/` holds the history behind a dimension, folded day by day (see
`pipeline/warehouse/accumulate.py`): a dimension that reads an accumulator depends on what the
accumulator reads, so ordering and the Dagster assets see through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.reports import TABLES_BY_NAME


def _sql_root() -> Path:
    """`sql/` inside the installed package (a wheel ships it as `pipeline/sql`), else the checkout's."""
    packaged = Path(__file__).resolve().parents[1] / "sql"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "sql"


SQL_ROOT = _sql_root()
LAYERS = ("staging", "marts")
ACCUMULATORS = "accumulators"
HEADER_KEYS = frozenset({"grain", "key", "partitioned_by", "rolling_days"})
ACCUMULATOR_KEYS = frozenset({"key", "fold"})
FOLDS = ("merge", "append")
PARTS = "parts"  # the relation a merge accumulator's second statement combines

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
    reads: tuple[str, ...] = ()  # models its own SQL names (`depends_on` adds its accumulators' reads)
    accumulators: tuple[str, ...] = ()

    @property
    def materialized(self) -> bool:
        """Marts are written to Parquet; staging models stay views over the lake."""
        return self.layer == "marts"


@dataclass(frozen=True)
class Accumulator:
    """Per-key state of a dimension over a date range, folded day by day (`sql/accumulators/`).

    `days_sql` makes the state rows of the days `$start`..`$end`. A `merge` accumulator's
    `merge_sql` combines any number of state rows of one key (the relation `parts`) into one, so the
    state through a day is the same however the days were grouped; an `append` accumulator's rows
    never change once made, and a fold adds only keys the state does not have yet.
    """

    name: str
    path: Path
    description: str
    key: tuple[str, ...]
    fold: str
    days_sql: str
    merge_sql: str | None
    depends_on: tuple[str, ...]  # date-partitioned models: staging views over the lake, or facts


def _parse_header(
    path: Path, text: str, known: frozenset[str] = HEADER_KEYS, required: frozenset[str] | None = None
) -> tuple[str, dict[str, str]]:
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
        if key not in known:
            raise ModelError(f"{path}: unknown header field {key!r} (known: {', '.join(sorted(known))})")
        fields[key] = value
    missing = (required if required is not None else {"grain", "key", "partitioned_by"}) - set(fields)
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


def _load(
    path: Path, layer: str, model_names: set[str], sql_root: Path, accumulators: dict[str, Accumulator]
) -> Model:
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
    reads = sorted(names & model_names)
    used = sorted(names & set(accumulators))
    if used and layer != "marts":
        raise ModelError(f"{path}: only a mart can read an accumulator ({', '.join(used)})")
    depends = sorted({*reads, *(d for a in used for d in accumulators[a].depends_on)})
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
        reads=tuple(reads),
        accumulators=tuple(used),
    )


def _statements(sql: str) -> list[str]:
    """The statements of a file: split at `;` outside comments and string literals."""
    masked = _NOISE.sub(lambda m: " " * len(m.group(0)), sql)  # same length: positions still match
    cuts = [i for i, char in enumerate(masked) if char == ";"]
    pieces = [sql[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(sql)], strict=True)]
    return [p.strip() for p in pieces if _NOISE.sub(" ", p).strip()]


def _load_accumulator(path: Path, taken: set[str], partitioned: dict[str, bool]) -> Accumulator:
    """One accumulator file; `partitioned`: every model name, True for the date-partitioned ones."""
    text = path.read_text(encoding="utf-8")
    description, header = _parse_header(
        path, text, known=ACCUMULATOR_KEYS, required=frozenset(ACCUMULATOR_KEYS)
    )
    fold = header["fold"].lower()
    if fold not in FOLDS:
        raise ModelError(f"{path}: fold must be one of {', '.join(FOLDS)}")
    statements = _statements(text)
    if len(statements) != (2 if fold == "merge" else 1):
        shape = "one statement"
        if fold == "merge":
            shape = "two statements: the days' rows, then how `parts` combine"
        raise ModelError(f"{path}: a {fold} accumulator has {shape}")
    days_sql, merge_sql = statements[0], (statements[1] if fold == "merge" else None)
    if set(_PARAM.findall(_NOISE.sub(" ", days_sql))) != {"start", "end"}:
        raise ModelError(f"{path}: the first statement filters the days on $start and $end")
    names, lake, seeds = _references(days_sql)
    if merge_sql is not None:
        merge_names, merge_lake, merge_seeds = _references(merge_sql)
        if _PARAM.findall(_NOISE.sub(" ", merge_sql)) or merge_lake or merge_seeds:
            raise ModelError(f"{path}: the merge statement reads only `{PARTS}` (no parameters)")
        if PARTS not in merge_names or merge_names & set(partitioned):
            raise ModelError(f"{path}: the merge statement reads only `{PARTS}`")
    if lake:
        raise ModelError(f"{path}: reads {', '.join(sorted(lake))}: read the lake through its staging model")
    undated = {n for n in names if n in partitioned and not partitioned[n]} | {f"seeds.{s}" for s in seeds}
    if undated:  # a fold is valid while its days' inputs are unchanged: those inputs must be dated
        raise ModelError(f"{path}: reads {', '.join(sorted(undated))}, which is not partitioned by date")
    if path.stem in taken:
        raise ModelError(f"{path}: the name {path.stem!r} is already taken")
    key = tuple(k.strip() for k in header["key"].split(","))
    return Accumulator(
        name=path.stem,
        path=path,
        description=description,
        key=key,
        fold=fold,
        days_sql=days_sql,
        merge_sql=merge_sql,
        depends_on=tuple(sorted(names & set(partitioned))),
    )


def discover_accumulators(sql_root: Path = SQL_ROOT) -> tuple[Accumulator, ...]:
    """Every accumulator under `sql_root/accumulators` (checked against the models it reads)."""
    return discover(sql_root)[1]


def discover_models(sql_root: Path = SQL_ROOT) -> tuple[Model, ...]:
    """Every model under `sql_root/staging` and `sql_root/marts`, upstream before downstream."""
    return discover(sql_root)[0]


def discover(sql_root: Path = SQL_ROOT) -> tuple[tuple[Model, ...], tuple[Accumulator, ...]]:
    """Models (upstream before downstream) and accumulators, read once."""
    models, accumulators = _discover(sql_root)
    return models, tuple(accumulators.values())


def _partitioned_headers(paths: dict[str, list[Path]]) -> dict[str, bool]:
    """Model name -> date-partitioned, from the headers alone (what accumulators may read)."""
    out = {}
    for layer_paths in paths.values():
        for path in layer_paths:
            _, header = _parse_header(path, path.read_text(encoding="utf-8"))
            out[path.stem] = header["partitioned_by"].lower() == "date"
    return out


def _discover(sql_root: Path) -> tuple[tuple[Model, ...], dict[str, Accumulator]]:
    paths = {layer: sorted((sql_root / layer).glob("*.sql")) for layer in LAYERS}
    names: set[str] = set()
    for layer_paths in paths.values():
        for path in layer_paths:
            if not _NAME.fullmatch(path.stem):
                raise ModelError(f"{path}: model names are lower_snake_case")
            if path.stem in names or path.stem in TABLES_BY_NAME:
                raise ModelError(f"{path}: the name {path.stem!r} is already taken")
            names.add(path.stem)
    accumulators: dict[str, Accumulator] = {}
    acc_paths = sorted((sql_root / ACCUMULATORS).glob("*.sql"))
    if acc_paths:
        partitioned = _partitioned_headers(paths)
        taken = names | set(TABLES_BY_NAME) | set(CATALOG_TABLES) | {PARTS}
        for path in acc_paths:
            if not _NAME.fullmatch(path.stem):
                raise ModelError(f"{path}: accumulator names are lower_snake_case")
            accumulators[path.stem] = _load_accumulator(path, taken | set(accumulators), partitioned)
    models = [_load(p, layer, names, sql_root, accumulators) for layer in LAYERS for p in paths[layer]]
    by_name = {m.name: m for m in models}
    for model in models:
        for dep in model.depends_on:
            if model.layer == "staging" and by_name[dep].layer == "marts":
                raise ModelError(f"{model.path}: a staging model cannot read the mart {dep}")
    rank = {m.name: LAYERS.index(m.layer) for m in models}
    graph = {m.name: m.depends_on for m in models}
    return tuple(by_name[n] for n in topological_order(graph, rank=rank)), accumulators


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
