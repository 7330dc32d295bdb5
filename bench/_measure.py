"""What the benchmarks under bench/ share: the servers they use, the processes they start, what
/proc says those processes spent, and the rows of their tables. Not a benchmark itself: the
leading underscore keeps `make bench` from running it, and each bench imports it from its own
folder (which Python puts first on the path when the bench runs as a script).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from hearth.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/hearth_test"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"
START_SECONDS = 60  # for a process to be ready before the run fails


# --- The servers -------------------------------------------------------------------------------


def postgres_server_url() -> str:
    """The PostgreSQL server the tests use (TEST_POSTGRES_URL), where each bench makes its fresh
    databases, so that a bench and the tests never need two settings."""
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def broker_url() -> str:
    """The RabbitMQ the tests use (TEST_AMQP_URL)."""
    return os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP)


def postgres_version(engine: sa.Engine) -> str:
    """The server's version number alone ("16.4"), without how it was built, for the headline."""
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SHOW server_version")).scalar()).split()[0]


def rabbitmq_version(stack: Stack) -> str:
    """The broker's version as it announces itself when a connection opens."""
    with stack.bus.connection() as connection:
        connection.connect()
        properties = connection.connection.server_properties  # type: ignore[attr-defined]
        return str(properties.get("version", "?"))


def free_port() -> int:
    """A port nobody listens on now, for a server this run starts."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(handler: Any) -> Iterator[int]:
    """An aiosmtpd server in a thread of this process, handing every message to `handler`: its
    port. In this process so that the handler can note when each message arrived on the same
    clock as the requests that caused it."""
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# --- The processes -----------------------------------------------------------------------------


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask a process to end as a deployment would (SIGTERM, so gunicorn and the workers finish
    what they hold), and kill it if it has not in 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Process:
    """A long-running command of this run; its output kept in a file, since a pipe nobody reads
    could fill and stall it."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: IO[bytes]) -> None:
        self.name = name
        self.log = log
        self.proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.pid = self.proc.pid

    def output(self, size: int = 4000) -> str:
        """The end of what it printed, for the message when it fails."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.name} exited ({self.proc.returncode}):\n{self.output()}")


@contextmanager
def started(
    name: str, command: list[str], env: dict[str, str], ready: Callable[[Process], bool]
) -> Iterator[Process]:
    """A long-running process, once `ready` says so; stopped at the end whatever happened."""
    with tempfile.TemporaryFile() as log:
        process = Process(name, command, env, log)
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers_ready(process, ready):
                process.check_alive()
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"{name} was not ready in {START_SECONDS} s:\n{process.output()}"
                    )
                time.sleep(0.2)
            yield process
        finally:
            stop(process.proc)


def _answers_ready(process: Process, ready: Callable[[Process], bool]) -> bool:
    # A server that is not listening yet refuses the connection: not ready, not a failure.
    try:
        return ready(process)
    except OSError:
        return False


# --- /proc: CPU and peak memory (Linux; "n/a" elsewhere) ---------------------------------------

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (gunicorn's workers), in order of their ids."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def pids_named(*names: str) -> list[int]:
    """The processes whose command is one of `names` (RabbitMQ's "beam.smp", PostgreSQL's
    "postgres"), for servers this run did not start."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of every thread of each of these processes /proc shows, by process, so that
    two readings can be compared process by process."""
    times = {}
    for pid in pids:
        if fields := _stat(pid):
            times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return times


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float | None:
    """Core-seconds between two readings, of the processes in both (a broker restarted by
    someone else meanwhile is a new process, left out); None if there are none."""
    common = before.keys() & after.keys()
    return sum(after[pid] - before[pid] for pid in common) if common else None


def machine_busy() -> float | None:
    """Core-seconds every CPU of the machine has spent not idle since boot, so that what the
    machine did besides the processes measured shows."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICKS  # all but idle and iowait


def peak_memory(pid: int) -> int | None:
    """The process's peak resident memory so far (VmHWM), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def postgres_pids(engine: sa.Engine, databases: list[str] | None = None) -> list[int]:
    """PostgreSQL's sessions on this run's `databases` (by default the engine's own) and its
    background processes (the WAL writer does part of every commit), if they run where /proc
    can see them; other databases' sessions are left out, since they are someone else's work."""
    if databases is None:
        databases = [engine.url.database or ""]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = ANY(:names) OR backend_type <> 'client backend'"
            ),
            {"names": databases},
        ).scalars()
        wanted = {int(pid) for pid in rows}
    return [pid for pid in pids_named("postgres", "postmaster") if pid in wanted]


# --- The tables --------------------------------------------------------------------------------


def median_header(title: str, label_width: int, cell_width: int) -> str:
    """The head of a table of `median_row`s."""
    width = cell_width
    return f"{title:{label_width}}{'median':>{width}}{'min':>{width}}{'max':>{width}}"


def median_row(label: str, values: Sequence[float], label_width: int, shape: str) -> str:
    """A row of figures taken over several rounds: their median, min and max, each in `shape`
    (a format such as "9.1f"). The machine is shared and noisy, so the median is the figure to
    trust and the min and max show how far the rounds spread."""
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{label:{label_width}}{median:{shape}}{low:{shape}}{high:{shape}}"
