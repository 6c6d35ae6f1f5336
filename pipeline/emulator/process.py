"""An emulator served by a child process: the demo's own work and the emulator's serving on two cores.

In the demo's process, the emulator's server threads share one interpreter lock with the client that
calls them: every one of enrichment's thousands of Web API requests is answered by the process that
sent it, one at a time. A child process serves them beside the client instead. The child stops when
the block ends, or on its own when its parent is gone (its end of the pipe closes).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.running import EmulatorAddresses, start_emulator

START_TIMEOUT_SECONDS = 120.0  # a loaded machine's interpreter start and imports
STOP_TIMEOUT_SECONDS = 10.0


class EmulatorProcessError(RuntimeError):
    """The emulator's process did not start listening."""


@dataclass(frozen=True)
class EmulatorProcess(EmulatorAddresses):
    """Where an emulator running in a child process listens (the addresses a `RunningEmulator` has)."""

    config: EmulatorConfig
    base_url: str


def _serve(config: EmulatorConfig, host: str, conn: Connection) -> None:
    """The child: serve until the parent says stop or goes away."""
    with start_emulator(config, host=host) as emulator:
        conn.send(emulator.base_url)
        with contextlib.suppress(EOFError, OSError):
            conn.recv()


@contextlib.contextmanager
def emulator_process(config: EmulatorConfig, *, host: str = "127.0.0.1") -> Iterator[EmulatorProcess]:
    """An emulator on a free port of `host`, served by a spawned process while the block runs."""
    context = multiprocessing.get_context("spawn")  # no fork: the caller may run threads
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(config, host, theirs), name="spotify-emulator")
    process.start()
    theirs.close()  # the child's end: if the child dies, our recv() ends with EOFError
    try:
        try:
            if not ours.poll(START_TIMEOUT_SECONDS):
                raise EmulatorProcessError(
                    f"the emulator process did not start listening within {START_TIMEOUT_SECONDS:.0f} s"
                )
            base_url = str(ours.recv())
        except EOFError:
            raise EmulatorProcessError(
                f"the emulator process exited before listening (exit code {process.exitcode}); "
                "run `spotify-bulk emulator` to see why"
            ) from None
        yield EmulatorProcess(config, base_url)
    finally:
        with contextlib.suppress(OSError):
            ours.send(None)
        ours.close()
        process.join(STOP_TIMEOUT_SECONDS)
        if process.is_alive():
            process.terminate()
            process.join()
