"""A local HTTP server speaking the Twilio Messages API's shape, for tests: it records every
request and answers what the test scripted (201 by default)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    auth: tuple[str, str] | None
    form: dict[str, str]


@dataclass
class Answer:
    status: int
    body: dict[str, object] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering, to make a client time out


class FakeTwilio:
    """Answers each request with the next scripted Answer, then with 201 and a new message sid."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.accepted: list[Recorded] = []  # the requests answered 2xx: the texts that went out
        self._script: list[Answer] = []
        self._by_number: dict[str, Answer] = {}
        self._sids = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""

    def answer(
        self,
        status: int,
        body: dict[str, object] | None = None,
        *,
        delay: float = 0.0,
        **headers: str,
    ) -> None:
        """Script the answer to the next request not yet scripted."""
        self._script.append(Answer(status, body or {}, headers, delay))

    def opted_out(self) -> None:
        self.answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})

    def invalid_number(self) -> None:
        self.answer(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."})

    def busy(self, times: int, status: int = 429, retry_after: int | None = None) -> None:
        """Answer the next `times` requests not yet scripted with `status`, and Retry-After."""
        headers = {} if retry_after is None else {"Retry_After": str(retry_after)}
        for _ in range(times):
            self.answer(status, **headers)

    def refuse(self, number: str, code: int, message: str = "refused") -> None:
        """Answer every text to `number` with 400 and `code` (21610 for a number that texted
        STOP to the provider, 21211 for one that does not exist), whatever else is scripted."""
        self._by_number[number] = Answer(400, {"code": code, "message": message})

    def _respond(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            answer = self._by_number.get(recorded.form.get("To", ""))
            if answer is None and self._script:
                answer = self._script.pop(0)
            if answer is None:
                sid = f"SM{next(self._sids):032x}"
                answer = Answer(201, {"sid": sid, "status": "queued", "num_segments": "1"})
            if 200 <= answer.status < 300:
                self.accepted.append(recorded)
        return answer


@contextmanager
def running() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            auth = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                auth = (user, password)
            answer = fake._respond(Recorded("POST", self.path, auth, form))
            time.sleep(answer.delay)
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
