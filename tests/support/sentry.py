"""A stand-in for Sentry's ingest endpoint on loopback: it takes what sentry-sdk posts to
``/api/<project>/envelope/`` and keeps every envelope, decoded, for tests to read.

    ingest = SentryIngest().start()    # events go to ingest.dsn
    ...                                # the code under test reports; then sentry_sdk.flush()
    ingest.items("event")              # the payloads of the event items received
    ingest.stop()

The envelope format (develop.sentry.dev/sdk/envelopes): a JSON header line, then items,
each a JSON header line and a payload of ``length`` bytes (or up to the next newline when
the header has no length); the body may be gzip- or brotli-compressed. The server runs
in threads of its own: sentry-sdk posts from a background thread while ``flush`` blocks
its caller, so a server on the test's event loop could not answer.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "publickey0123456789abcdef"  # the DSN's key: tests check it is never logged
PROJECT = 1


def parse_envelope(body: bytes) -> tuple[dict, list[tuple[dict, bytes]]]:
    """(envelope header, [(item header, payload)])."""
    line, _, rest = body.partition(b"\n")
    header, items = json.loads(line), []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        item = json.loads(line)
        if "length" in item:
            payload, rest = rest[:item["length"]], rest[item["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return header, items


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli  # sentry-sdk compresses with brotli only where the module is installed
        return brotli.decompress(body)
    return body


class SentryIngest:
    def __init__(self):
        self.bodies: list[bytes] = []   # every envelope, decompressed, as received
        self.auth: list[str] = []       # X-Sentry-Auth of each request
        self.refused: list[str] = []    # paths posted to that are not the envelope endpoint
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def dsn(self) -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def start(self) -> "SentryIngest":
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
            # Headers and body go out in two writes: without TCP_NODELAY the second waits
            # for the client's delayed ACK, 40 ms per envelope.
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with ingest._lock:
                    if self.path != f"/api/{PROJECT}/envelope/":
                        ingest.refused.append(self.path)
                        return self._answer(404, b"{}")
                    ingest.bodies.append(
                        _decompress(body, self.headers.get("Content-Encoding", "")))
                    ingest.auth.append(self.headers.get("X-Sentry-Auth", ""))
                self._answer(200, b'{"id": "00000000000000000000000000000000"}')

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet: pytest shows stderr of failures
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.bodies.clear()
            self.auth.clear()
            self.refused.clear()

    def items(self, kind: str) -> list[dict]:
        """The JSON payloads of every item of type ``kind`` received so far, in order."""
        with self._lock:
            bodies = list(self.bodies)
        return [json.loads(payload) for body in bodies
                for item, payload in parse_envelope(body)[1] if item.get("type") == kind]

    def text(self) -> str:
        """Everything received, as text: what must never hold a secret or a phone number."""
        with self._lock:
            return "\n".join(b.decode("utf-8", "replace") for b in self.bodies)
