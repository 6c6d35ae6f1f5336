"""A faithful Spotify emulator: Accounts, the Bulk API and the Web API over real HTTP on loopback.

    with start_emulator(EmulatorConfig(today=date(2026, 11, 23))) as emu:
        httpx.post(emu.accounts_url, auth=(cfg.client_id, cfg.client_secret), ...)

Data is synthetic and deterministic (same seed, licensor and date give byte-identical files),
internally consistent (aggregated counts reconcile with the stream rows), generated on first request,
cached on disk and streamed. Faults are injected per run (see `pipeline.emulator.faults`), and so
are modes, the API variants a client must survive (signed downloads from a second origin, the totals
aggregated shape, renamed fields, mixed track id forms, a development-mode or extended Web API app;
see `EmulatorConfig` and `modes_from_options`).
"""

from pipeline.emulator.config import EmulatorConfig, modes_from_options, parse_modes
from pipeline.emulator.faults import Fault, FaultPlan
from pipeline.emulator.running import RunningEmulator, serve_forever, start_emulator

__all__ = [
    "EmulatorConfig",
    "Fault",
    "FaultPlan",
    "RunningEmulator",
    "modes_from_options",
    "parse_modes",
    "serve_forever",
    "start_emulator",
]
