"""The embedded stack's state and process helpers: ports kept in ``<var>/stack.json``, free
ports, waiting for a port, pid files."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class StackState:
    """What ``up`` decided once and reuses: ports and secrets. Stored in ``<var>/stack.json``."""

    var: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.var / "stack.json"

    @classmethod
    def load(cls, var: Path) -> "StackState":
        state = cls(var=var)
        if state.path.exists():
            state.ports = json.loads(state.path.read_text()).get("ports", {})
        return state

    def save(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ports": self.ports}, indent=2))
        os.replace(tmp, self.path)

    def port(self, name: str) -> int:
        """The port kept for ``name``; a new free one if none was kept or it is now taken."""
        port = self.ports.get(name)
        if port is None:
            port = free_port()
            self.ports[name] = port
        return port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"{what} did not open 127.0.0.1:{port} within {timeout:.0f}s{tail}")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0); reap it so it counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def stop_pid(pidfile: Path, timeout: float = 10.0) -> bool:
    """SIGTERM the process (group) named in pidfile, SIGKILL after timeout. True if one ran."""
    return bool(stop_pids({pidfile: signal.SIGTERM}, timeout))


def stop_pids(pidfiles: dict[Path, int], timeout: float = 10.0) -> list[Path]:
    """Signal every process (group) named in ``pidfiles`` at once, each with its own signal,
    then wait for them together, SIGKILL after ``timeout``; the pidfiles whose process ran.
    Stopping the stack one process after another took the sum of their waits."""
    running = {}
    for pidfile, sig in pidfiles.items():
        pid = read_pid(pidfile)
        if not pid_alive(pid):
            pidfile.unlink(missing_ok=True)
            continue
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        running[pidfile] = pid
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in running.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pidfile, pid in running.items():
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
    return list(running)
