"""The package's shape holds: imports point one way, one module reads the environment, no cycles."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lower layers never import higher ones (commands -> definitions -> assets -> orchestration ->
# domain -> clients -> base), not even inside a function: a lazy import is still a dependency.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline.errors", "pipeline.layout", "pipeline.dates", "pipeline.reports", "pipeline.storage",
     "pipeline.spotify_ids", "pipeline.field_map"),
    ("pipeline.clients", "pipeline.config"),
    ("pipeline.ingest", "pipeline.enrichment", "pipeline.warehouse", "pipeline.emulator",
     "pipeline.dashboard", "pipeline.risk"),
    ("pipeline.orchestration",),
    ("assets",),
    ("pipeline.definitions",),
    ("pipeline.cli",),
)  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("pipeline", "assets"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Project modules `path` imports: every import statement (in functions, methods, `if` blocks
    too), or only the module-level ones (what runs at import, for the cycle test)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("pipeline", "assets")}


def _upward(modules: dict[str, Path]) -> list[str]:
    upward = []
    for name, path in modules.items():
        for target in _imports(path):
            target = target if target in modules else target.rsplit(".", 1)[0]
            if target in modules and _layer(target) > _layer(name):
                upward.append(f"{name} -> {target}")
    return upward


def test_imports_point_down_the_layers():
    assert _upward(_modules()) == []


def test_an_upward_import_inside_a_function_is_caught(tmp_path: Path):
    """The layer test sees imports in function bodies, not only at module level."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text(
        "def run():\n    if True:\n        from pipeline.definitions import build_definitions\n"
        "        import assets.warehouse\n"
    )
    modules = {**_modules(), "pipeline.orchestration.lazy": lazy}
    assert set(_upward(modules)) == {
        "pipeline.orchestration.lazy -> pipeline.definitions",
        "pipeline.orchestration.lazy -> assets.warehouse",
    }


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph = {
        name: {t if t in modules else t.rsplit(".", 1)[0] for t in _imports(path, top_level_only=True)}
        & set(modules)
        for name, path in modules.items()
    }
    graph = {
        name: {t for t in targets if not name.startswith(t + ".") and t != name}
        for name, targets in graph.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_only_config_reads_the_environment():
    readers = []
    for name, path in _modules().items():
        if name == "pipeline.config":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv", "environb")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                readers.append(f"{name}:{node.lineno}")
    assert readers == []


def test_importing_the_definitions_reads_no_settings():
    """A broken environment breaks nothing at import: settings are read when definitions load."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env |= {"SPOTIFY_BULK_START_DATE": "not-a-date", "SPOTIFY_BULK_LOOKBACK_DAYS": "many"}
    code = (
        "import pipeline.definitions, assets.bulk_reports, assets.warehouse, pipeline.cli.main; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_code_location_asks_for_licensors_clearly(tmp_path):
    """`dagster dev` without SPOTIFY_LICENSORS fails with our message, not a demo default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    code = (
        "import dagster as dg\n"
        "from pipeline.definitions import defs\n"
        "try:\n    dg.Definitions.validate_loadable(defs())\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert "SPOTIFY_LICENSORS is not set" in done.stdout, done.stdout + done.stderr


HEAVY = ("dagster", "polars", "duckdb", "pyarrow")


def test_the_command_list_imports_no_heavy_library():
    """`spotify-bulk --help` and an unknown command answer at once: no command module is imported,
    so none of Dagster, Polars, DuckDB or Arrow is (asserted on `sys.modules`, not on time)."""
    code = (
        "import sys\n"
        "from pipeline.cli.main import main\n"
        "for argv in (['--help'], ['no-such-command']):\n"
        "    try:\n        main(argv)\n"
        "    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    assert "load Bulk API reports" in done.stdout  # the listing still shows every command's help


def test_a_load_step_imports_no_duckdb():
    """A process that only loads days (the bulk report assets and their resources, as the e2e bench's
    Dagster run does) never pays DuckDB's ~20 MB resident: the warehouse options load where a
    warehouse step asks for them (`LakeResource.warehouse_options`)."""
    code = (
        "import sys\n"
        "import assets.bulk_reports, pipeline.orchestration.resources, pipeline.ingest.load\n"
        "print('duckdb' in sys.modules)\n"
        "from pipeline.orchestration.resources import LakeResource\n"
        "print(LakeResource(data_dir='x').warehouse_options().lookback_days > 0, 'duckdb' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "True", "True"], done.stdout + done.stderr


def test_landing_imports_the_table_format_only_to_commit():
    """A load's parse and sort run without pyiceberg and SQLAlchemy imported (~30 MB resident at
    landing's peak): landing needs only the partition columns (`storage/partition_columns.py`), and
    `land_partition` imports the tables when it commits."""
    code = (
        "import sys\n"
        "import assets.bulk_reports, pipeline.orchestration.resources, pipeline.ingest.load\n"
        "print(sorted(m for m in ('pyiceberg', 'sqlalchemy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
