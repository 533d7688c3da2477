"""A small TCP proxy on loopback for tests: forward to a port, or, as a bad network would, cut a
connection once it has carried a given number of bytes (both directions counted), stall it
there (the connection stays open, nothing more goes either way), or trickle (at most
``rate`` bytes a second each way). ``WanProxy``: a healthy wide-area link instead (a one-way
delay and a rate for each connection), for benchmarks of what waits on the network."""
from __future__ import annotations

import collections
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:  # stopped
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server is down: this connection ends, the proxy goes on
                client.close()
                continue
            self.connections += 1
            self._open += [client, upstream]
            self._serve(client, upstream)

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        """Carry one accepted connection: a pipe each way, cut, stalled or trickling as set."""
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


class WanProxy(TcpProxy):
    """Forwards to ``target_port`` as a wide-area link would: each byte arrives ``rtt / 2``
    seconds after it was sent, in each direction, and each connection carries at most
    ``link_rate`` bytes a second each way (a TCP session's share of a path, not the path:
    connections do not slow each other). Data in flight is bounded by the link's
    bandwidth-delay product plus a buffer, so a fast sender waits as over a real path (TCP's
    flow control, end to end). ``bytes`` counts what it delivered."""

    CHUNK = 64 * 1024

    def __init__(self, target_port: int, rtt: float, rate: float):
        super().__init__(target_port)
        self.delay, self.link_rate = rtt / 2, rate
        self.in_flight_max = max(4 * self.CHUNK, int(rate * rtt) + 4 * self.CHUNK)
        self.bytes = 0
        self._lock = threading.Lock()

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for src, dst in ((client, upstream), (upstream, client)):
            _Direction(self, src, dst).start()


class _Direction:
    """One way of one connection: a reader stamps each chunk with when it is due at the far end;
    a sender delivers it then, paced to the rate."""

    def __init__(self, link: WanProxy, src: socket.socket, dst: socket.socket):
        self.link, self.src, self.dst = link, src, dst
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.ended = False
        self.cond = threading.Condition()

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._send, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                data = self.src.recv(WanProxy.CHUNK)
                if not data:
                    break
                with self.cond:
                    while self.queued >= self.link.in_flight_max:
                        self.cond.wait()
                    self.queue.append((time.monotonic() + self.link.delay, data))
                    self.queued += len(data)
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def _send(self) -> None:
        free_at = time.monotonic()  # when the link has sent what it was given: the rate
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.ended:
                        self.cond.wait()
                    if not self.queue:
                        break
                    due, data = self.queue.popleft()
                    self.queued -= len(data)
                    self.cond.notify_all()
                free_at = max(free_at, due - self.link.delay) + len(data) / self.link.link_rate
                wait = max(due, free_at + self.link.delay) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.dst.sendall(data)
                with self.link._lock:
                    self.link.bytes += len(data)
            self.dst.shutdown(socket.SHUT_WR)  # the source's end, passed on once all it sent is there
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
