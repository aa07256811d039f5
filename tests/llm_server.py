"""A real OpenAI-compatible HTTP server for the tests and the benches.

Answers are deterministic: the text comes from a sha256 of the model, the
messages and the sampling parameters, so a rerun of a run gets the same
samples and a change of temperature or seed gets different ones. Directives in
the last user message make one item misbehave on purpose:

    [[status:429x2]]   the first 2 identical requests get 429 (Retry-After: 0), then normal
    [[slow:800]]       wait 800 ms before answering
    [[finish:length]]  text cut mid-sentence, finish_reason "length"
    [[malformed]]      200 with a body that is not JSON; [[malformed:nochoices]]: JSON without choices
    [[empty]] [[refuse]] [[repeat]] [[json]] [[math:N]]   content of that shape
    [[big:N]]          content of N characters (for response size caps)
    [[nousage]]        no usage block, as some servers answer

Run by hand: python -m tests.llm_server --port 8099 --latency-ms 50
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "synthetic-test-model"
CREATED = 1_700_000_000
METADATA_URL = "http://169.254.169.254/latest/meta-data/"
DIRECTIVE = re.compile(r"\[\[(\w+)(?::([^\]]*))?\]\]")

_SUBJECTS = [
    "The careful gardener",
    "A quiet student",
    "The old lighthouse keeper",
    "Every busy baker",
    "The young pilot",
    "A patient teacher",
    "The village doctor",
    "Our new neighbour",
]
_VERBS = ["paints", "repairs", "counts", "describes", "collects", "measures", "remembers", "explains"]
_OBJECTS = [
    "the wooden fence",
    "seven red apples",
    "a long river",
    "the morning train",
    "three small boats",
    "the winter garden",
    "a forgotten letter",
    "the tall clock",
]
_ENDINGS = [
    "before noon",
    "with great care",
    "every single day",
    "after the storm",
    "near the harbour",
    "without a word",
    "in the spring",
    "for the whole town",
]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    connection: tuple[str, int]
    body: bytes = b""


class RequestLog:
    """What the server answered, safe to read while it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    @property
    def count(self) -> int:
        return len(self)

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def by_status(self) -> Counter[int]:
        return Counter(record.status for record in self.records)

    @property
    def connections(self) -> int:
        """Distinct client connections: fewer than requests when keep-alive works."""
        return len({record.connection for record in self.records})


def sentences(digest: bytes, count: int = 3) -> list[str]:
    return [
        f"{_SUBJECTS[digest[4 * i] % 8]} {_VERBS[digest[4 * i + 1] % 8]} "
        f"{_OBJECTS[digest[4 * i + 2] % 8]} {_ENDINGS[digest[4 * i + 3] % 8]}."
        for i in range(count)
    ]


def answer(body: dict[str, Any]) -> tuple[str, str]:
    """(content, finish_reason) for a chat completion request."""
    messages = body.get("messages") or []
    key = [body.get("model"), messages, body.get("temperature"), body.get("top_p"), body.get("seed")]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).digest()
    directives = dict(DIRECTIVE.findall(_last_user_text(messages)))
    if "empty" in directives:
        return "", "stop"
    if "refuse" in directives:
        return "As an AI language model, I cannot help with that.", "stop"
    if "repeat" in directives:
        return " ".join(sentences(digest, 1) * 30), "stop"
    if "json" in directives:
        return json.dumps({"answer": sentences(digest, 1)[0], "confidence": digest[0] / 255}), "stop"
    if "math" in directives:
        return (
            f"First, read the quantities in the problem. Then combine them step by step. "
            f"The answer is {directives['math']}."
        ), "stop"
    if "big" in directives:
        return "x" * int(directives["big"] or 0), "stop"
    text = " ".join(sentences(digest))
    if directives.get("finish") == "length":
        first, second = sentences(digest, 2)
        # Stops inside the second sentence, the way a max_tokens cut does.
        return f"{first} {' '.join(second.split()[:3])}", "length"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and 0 < max_tokens < len(text.split()):
        return " ".join(text.split()[:max_tokens]), "length"
    return text, "stop"


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def _words(messages: list[Any]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    timeout = 30  # an idle kept-alive connection is dropped after this
    # Headers and body go out in separate writes; without TCP_NODELAY the second waits on the
    # client's delayed ACK (40 ms on Linux), which would make the server look slower than it is.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raw = self.request_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self.path.split("?", 1)[0].rstrip("/")  # a query (e.g. api-version) does not change the route
        if self.path.startswith("/redirect/"):
            return self._send(307, b"", headers={"Location": METADATA_URL})
        if self.server.api_key is not None and not self._authorised():
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.command == "GET" and route == "/v1/models":
            return self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": MODEL_ID, "object": "model", "created": CREATED, "owned_by": "synthreview-tests"}],
                },
            )
        if self.command == "POST" and route == "/v1/chat/completions":
            return self._chat(raw)
        return self._error(404, f"No route for {self.command} {self.path}.", "not_found")

    def _authorised(self) -> bool:
        expected = f"Bearer {self.server.api_key}".encode()
        return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected)

    def _chat(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "The body is not JSON.", "invalid_json")
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return self._error(400, "model and messages are required.", "invalid_request")
        directives = dict(DIRECTIVE.findall(_last_user_text(body["messages"])))
        delay_ms = self.server.latency_ms + float(directives.get("slow") or 0)
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if "status" in directives:
            status, _, times = directives["status"].partition("x")
            if self.server.fail_again(hashlib.sha256(raw).hexdigest(), int(times or 1)):
                headers = {"Retry-After": "0"} if status in ("429", "503") else {}
                return self._error(int(status), f"Simulated HTTP {status}.", "simulated", headers)
        if directives.get("malformed") == "nochoices":
            return self._json(200, {"id": "chatcmpl-broken", "object": "chat.completion", "model": body["model"]})
        if "malformed" in directives:
            return self._send(200, b"<html>upstream gateway said no</html>", "text/html")
        content, finish_reason = answer(body)
        digest = hashlib.sha256(raw).hexdigest()
        usage = {
            "prompt_tokens": _words(body["messages"]),
            "completion_tokens": len(content.split()),
            "total_tokens": _words(body["messages"]) + len(content.split()),
        }
        self._json(
            200,
            {
                "id": f"chatcmpl-{digest[:24]}",
                "object": "chat.completion",
                "created": CREATED,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
                ],
                **({} if "nousage" in directives else {"usage": usage}),
            },
        )

    def _error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}}, headers)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        # Recorded before anything is sent: a client may act on the status line alone.
        self.server.requests.add(
            RequestRecord(self.command, self.path, status, self.client_address[:2], getattr(self, "request_body", b""))
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its timeout, its size cap): its business.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The benches open many connections at once; the default backlog of 5 drops some.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], *, latency_ms: float, api_key: str | None, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.latency_ms = latency_ms
        self.api_key = api_key
        self.verbose = verbose
        self.requests = RequestLog()
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fail_again(self, body_hash: str, times: int) -> bool:
        with self._lock:
            if self._failures[body_hash] >= times:
                return False
            self._failures[body_hash] += 1
            return True


class LLMServer:
    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self.redirect_url = f"http://{host}:{port}/redirect/v1"
        # A short poll interval, so that stop() returns at once: tests start many servers.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-server", daemon=True
        )
        self._thread.start()

    @property
    def requests(self) -> RequestLog:
        return self._server.requests

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_llm_server(
    *, latency_ms: float = 0, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> LLMServer:
    return LLMServer(_Server((host, port), latency_ms=latency_ms, api_key=api_key, verbose=verbose))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    server = start_llm_server(
        latency_ms=args.latency_ms, api_key=args.api_key, host=args.host, port=args.port, verbose=True
    )
    print(f"OpenAI-compatible test server at {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
