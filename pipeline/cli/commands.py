"""The commands of `spotify-bulk` and their one-line help, importable without any command module.

`spotify-bulk --help` lists these without importing the commands (each may pull in Dagster, DuckDB,
Polars or Arrow); a command's module is imported only when that command runs.
"""

COMMANDS: dict[str, str] = {
    "demo": "load the last 7 days from the embedded emulator, end to end",
    "load": "load Bulk API reports for licensors and a date window",
    "enrich": "enrich the catalog from the Web API (new and stale ids only)",
    "build": "build the DuckDB warehouse (staging views and marts) from the lake",
    "status": "what the lake holds: loaded, not available yet, failed, rejects, per licensor x date x report",
    "query": "run read-only SQL against the warehouse",
    "risk": "tracks flagged for artificial streaming: reasons, artificial share, fee exposure",
    "sql": "an interactive read-only SQL prompt over the warehouse",
    "retention": "delete archive, lake, rejects partitions and Dagster runs older than N days",
    "dashboard": "serve the dashboard on localhost (reads the warehouse)",
    "emulator": "run the Spotify emulator standalone",
    "migrate": "convert a data directory of the previous version (Hive lake folders) to Iceberg tables",
}
