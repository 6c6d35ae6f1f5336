"""Side-by-side performance harness: `uv run python -m bench --help`.

Every measured path runs in its own child process (`bench.child`), so wall time, CPU time and
peak RSS belong to that path alone; ratios compare paths measured in the same run on the same bytes.
"""
