"""The bundled dashboard: `spotify-bulk dashboard` serves it (Streamlit) from the published warehouse.

`queries` holds every query (plain functions over a read-only DuckDB connection, unit-tested);
`app` is the thin Streamlit script that lays them out; `server` starts Streamlit on loopback.
"""
