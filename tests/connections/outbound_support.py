"""A real TCP listener on loopback for outbound tests: records what reaches it, answers a script."""

import socket
import ssl
import threading
import time


class Listener:
    """Serve on 127.0.0.1 in a thread; record each connection's request bytes (and TLS SNI).

    `reply` is the raw answer (bytes); `trickle` sends it one byte every `trickle` seconds (at
    once with `burst`) and then keeps trickling spaces, as a server that never finishes would.
    """

    def __init__(self, reply: bytes = b"", *, trickle: float | None = None, burst: bool = False,
                 tls: ssl.SSLContext | None = None):  # fmt: skip
        self.reply = reply or b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        self.trickle = trickle
        self.burst = burst
        self.tls = tls
        self.accepted = 0
        self.requests: list[bytes] = []
        self.server_names: list[str | None] = []
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._server.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        try:
            conn.settimeout(5)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data)
            if self.trickle is None:
                conn.sendall(self.reply)
                return
            if self.burst:
                conn.sendall(self.reply)
            for index in range(0 if self.burst else len(self.reply)):
                conn.sendall(self.reply[index : index + 1])
                time.sleep(self.trickle)
            while not self._stop.is_set():
                conn.sendall(b" ")
                time.sleep(self.trickle)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def header(request: bytes, name: str) -> str | None:
    """Return one header of a recorded raw request."""
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


class KeptListener:
    """An HTTP/1.1 server on 127.0.0.1 that keeps connections open between requests.

    Records how many connections it accepted and each request's (connection number, first
    line). `answer(connection, index)` says what the index-th request on a connection gets:
    "ok" (a 200 with a body, the connection kept), "drop" (the connection closed unanswered,
    as a server closing an idle connection while the request was on its way) or "trickle" (a
    200 whose body comes one byte every 0.05 s, never ending).
    """

    def __init__(self, answer=lambda connection, index: "ok"):
        self.answer = answer
        self.accepted = 0
        self.requests: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._server.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            number = self.accepted
            threading.Thread(target=self._converse, args=(conn, number), daemon=True).start()

    def _converse(self, conn, number):
        buffered, index = b"", 0
        try:
            conn.settimeout(5)
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                self.requests.append((number, head.split(b"\r\n", 1)[0]))
                action = self.answer(number, index)
                index += 1
                if action == "drop":
                    return
                if action == "trickle":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    while not self._stop.is_set():
                        conn.sendall(b" ")
                        time.sleep(0.05)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
