"""A small TCP proxy on loopback for tests: forward to a port, or, as a bad network would, cut a
connection once it has carried a given number of bytes (both directions counted), stall it
there (the connection stays open, nothing more goes either way), or trickle (at most
``rate`` bytes a second each way)."""
from __future__ import annotations

import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_port: int, cut_after_bytes: int | None = None, cuts: int = 1,
                 stall_after_bytes: int | None = None, rate: int | None = None, on_stall=None):
        self.target_port = target_port
        self.cut_after_bytes = cut_after_bytes
        self.cuts_left = cuts
        self.stall_after_bytes = stall_after_bytes
        self.rate = rate
        self.on_stall = on_stall  # called once when a connection stalls (e.g. to drop its packets too)
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> "TcpProxy":
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, upstream]
            budget, stall = None, None
            if self.cut_after_bytes is not None and self.cuts_left > 0:
                self.cuts_left -= 1
                budget = [self.cut_after_bytes]
            if self.stall_after_bytes is not None:
                stall = [self.stall_after_bytes]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst, budget, stall), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, budget: list[int] | None,
              stall: list[int] | None = None) -> None:
        try:
            while True:
                data = src.recv(self.rate or 65536)
                if not data:
                    break
                if stall is not None:
                    if stall[0] <= 0:
                        continue  # stalled: read and drop, so neither side sees the connection end
                    data = data[:stall[0]]
                    stall[0] -= len(data)
                    if stall[0] <= 0 and self.on_stall is not None:  # at the moment it stalls, not later
                        callback, self.on_stall = self.on_stall, None
                        callback()
                dst.sendall(data)
                if self.rate:
                    time.sleep(len(data) / self.rate)
                if budget is not None:
                    budget[0] -= len(data)
                    if budget[0] <= 0:
                        break  # cut: both directions die, as when a firewall drops the session
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self) -> None:
        self._stop.set()
        try:  # wakes the thread blocked in accept(); close() alone leaves the port listening
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        if self._thread is not None:
            self._thread.join(5)
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass


NFT = "/usr/sbin/nft"


def can_blackhole() -> str | None:
    """Why ``blackhole`` cannot run here (None: it can): it needs root and nftables."""
    import os
    if os.geteuid() != 0:
        return "dropping packets needs root (nftables)"
    if not os.path.exists(NFT):
        return "nftables (nft) is not installed; ./run.sh test installs it when run as root"
    return None


class blackhole:
    """Every packet to or from a loopback port silently dropped, as when a cable is pulled or a
    firewall forgets a session: unlike a proxy's stall, the kernel's own keepalive answers are lost
    too. An nftables table of its own, removed on exit (root only; see ``can_blackhole``)."""

    def __init__(self, port: int):
        import os
        self.port, self.table = port, f"etl_test_blackhole_{os.getpid()}_{port}"

    def _nft(self, *args: str) -> None:
        import subprocess
        subprocess.run([NFT, *args], check=True, capture_output=True, text=True)

    def __enter__(self) -> "blackhole":
        self._nft("add", "table", "inet", self.table)
        self._nft("add", "chain", "inet", self.table, "out", "{ type filter hook output priority 0 ; }")
        self._nft("add", "rule", "inet", self.table, "out", "tcp", "dport", str(self.port), "drop")
        self._nft("add", "rule", "inet", self.table, "out", "tcp", "sport", str(self.port), "drop")
        return self

    def __exit__(self, *exc) -> None:
        self._nft("delete", "table", "inet", self.table)
