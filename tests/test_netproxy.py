"""tests/netproxy.WanProxy, the wide-area link of ``./run.sh bench nightly --network wan``: it
delays each byte by half the round trip each way and holds each connection to its rate, and
connections do not slow each other (each is a TCP session's share of a path)."""
import socket
import threading
import time

from tests.netproxy import WanProxy


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _send_and_drain(port: int, size: int) -> float:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        got = [0]

        def drain():
            while data := sock.recv(65536):
                got[0] += len(data)

        reader = threading.Thread(target=drain)
        reader.start()
        sock.sendall(b"x" * size)
        sock.shutdown(socket.SHUT_WR)
        reader.join(30)
    assert got[0] == size
    return time.monotonic() - t0


def test_a_round_trip_takes_the_rtt_and_a_connection_its_rate():
    server, port = _echo_server()
    with server, WanProxy(port, rtt=0.1, rate=2_000_000) as link:
        with socket.create_connection(("127.0.0.1", link.port)) as sock:
            t0 = time.monotonic()
            for _ in range(5):
                sock.sendall(b"ping")
                assert sock.recv(16) == b"ping"
            five = time.monotonic() - t0
        assert 5 * 0.1 <= five < 5 * 0.1 + 1.0  # each round trip: half the RTT out, half back
        # 2 MB there and back at 2 MB/s a way: about 1 s (pipelined, plus the trips), not 2
        assert 1.0 <= _send_and_drain(link.port, 2_000_000) < 3.0


def test_connections_do_not_share_their_rate():
    server, port = _echo_server()
    with server, WanProxy(port, rtt=0.02, rate=2_000_000) as link:
        times = []
        threads = [threading.Thread(target=lambda: times.append(_send_and_drain(link.port, 2_000_000)))
                   for _ in range(3)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(times) == 3 and all(1.0 <= t < 3.0 for t in times)
        assert time.monotonic() - t0 < 3.5  # side by side, not one after another (3 s and more)
        assert link.connections == 3


def test_a_proxy_outlives_a_server_that_was_down():
    from stack import free_port
    from tests.netproxy import TcpProxy
    port = free_port()
    with TcpProxy(port) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            assert sock.recv(16) == b""  # nothing listens behind it: this connection is closed
        server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=lambda: _echo(server.accept()[0]), daemon=True).start()
        with server, socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"back")
            assert sock.recv(16) == b"back"  # the server is up: the same proxy carries the next one
