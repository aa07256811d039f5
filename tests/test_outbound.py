"""Outbound URLs that admins set: what is refused, and how a POST behaves against
real servers on 127.0.0.1 (no mocked network)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django import forms
from django.core.exceptions import ValidationError

from synthreview.outbound import Deadline, OutboundURLValidator, post_json, validate_outbound_url

# --- What is refused ----------------------------------------------------------

REFUSED_EVEN_WITH_PRIVATE_HOSTS_ALLOWED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",  # 169.254.169.254 as one decimal number
    "http://0xa9fea9fe/",  # ... in hex
    "http://0251.0376.0251.0376/",  # ... in octal
    "http://169.254.43518/",  # ... with the last two bytes as one number
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://100.100.100.200/",  # Alibaba Cloud metadata
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "ftp://example.org/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http:///nohost",
    "http://user:pw@127.0.0.1/",
    "http://127.0.0.1\\@169.254.169.254/",
    "http://127.0.0.1:0/",
    "",
]


@pytest.mark.parametrize("url", REFUSED_EVEN_WITH_PRIVATE_HOSTS_ALLOWED)
def test_metadata_link_local_and_malformed_urls_are_refused_even_with_private_hosts_allowed(url):
    with pytest.raises(ValidationError):
        validate_outbound_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://[fd12:3456::1]/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one decimal number
        "http://[::ffff:127.0.0.1]/hook",  # judged as the IPv4 inside, not as reserved IPv6
    ],
)
def test_loopback_and_private_addresses_are_refused_by_default(url):
    with pytest.raises(ValidationError) as raised:
        validate_outbound_url(url)
    assert raised.value.code == "private_address"
    assert "OUTBOUND_ALLOW_PRIVATE_HOSTS" in raised.value.messages[0]


def test_loopback_is_accepted_with_private_hosts_allowed():
    assert validate_outbound_url("http://127.0.0.1:8765/hook?x=1", allow_private=True) == (
        "http://127.0.0.1:8765/hook?x=1"
    )


def test_the_url_comes_back_normalised():
    assert validate_outbound_url("HTTP://LocalHost:8080/Hook#frag", allow_private=True) == (
        "http://localhost:8080/Hook"
    )


def test_a_metadata_name_is_refused_before_any_lookup():
    # It does not resolve here, so only the name check can have refused it.
    with pytest.raises(ValidationError) as raised:
        validate_outbound_url("http://metadata.google.internal./", allow_private=True)
    assert raised.value.code == "forbidden_address"


def test_a_decimal_ip_is_refused_with_the_address_it_means():
    with pytest.raises(ValidationError) as raised:
        validate_outbound_url("http://2852039166/", allow_private=True)
    assert "169.254.169.254" in raised.value.messages[0]


def test_an_unresolvable_host_is_refused():
    with pytest.raises(ValidationError) as raised:
        validate_outbound_url("http://no-such-host.invalid/", allow_private=True)
    assert raised.value.code == "unresolvable"


def test_field_validator_follows_the_setting(settings):
    field = forms.URLField(assume_scheme="https", validators=[OutboundURLValidator()])
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(ValidationError):
        field.clean("http://127.0.0.1:8000/hook")
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    assert field.clean("http://127.0.0.1:8000/hook") == "http://127.0.0.1:8000/hook"
    with pytest.raises(ValidationError):
        field.clean("http://169.254.169.254/")


def test_field_validator_deconstructs_for_migrations():
    path, args, kwargs = OutboundURLValidator().deconstruct()
    assert (path, args, kwargs) == ("synthreview.outbound.OutboundURLValidator", (), {})
    assert OutboundURLValidator() == OutboundURLValidator()


# --- Real servers -------------------------------------------------------------


@dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingServer(ThreadingHTTPServer):
    """Answers each POST with `respond(handler)` after recording it."""

    daemon_threads = True

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.respond = respond
        self.requests: list[SeenRequest] = []
        self.released = threading.Event()  # set at teardown, so a stalling handler ends

    def url(self, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.server_port}/hook"


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(SeenRequest(self.path, dict(self.headers.items()), body))
        try:
            self.server.respond(self)
        except OSError:
            pass  # the client gave up first, as the timeout tests intend

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., RecordingServer]]:
    servers: list[RecordingServer] = []

    def start(respond: Callable[[BaseHTTPRequestHandler], None], *, tls: ssl.SSLContext | None = None):
        server = RecordingServer(respond)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.released.set()
        server.shutdown()
        server.server_close()


def answer(status: int, **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def redirect_to_this_server(handler: BaseHTTPRequestHandler) -> None:
    # Followed, it would show here as a second request.
    answer(307, Location=f"http://127.0.0.1:{handler.server.server_port}/elsewhere")(handler)


def stall(handler: BaseHTTPRequestHandler) -> None:
    handler.server.released.wait(30)


def drip_headers(handler: BaseHTTPRequestHandler) -> None:
    # One header byte every 0.2 s: no single read waits as long as the timeout.
    # Ends after 10 s, so a client without a total deadline fails the test, not hangs it.
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    for _ in range(50):
        if handler.server.released.wait(0.2):
            return
        handler.wfile.write(b"a")
    handler.wfile.write(b"\r\nContent-Length: 0\r\n\r\n")


def test_post_json_delivers_the_body_as_json(serve):
    server = serve(answer(204))
    result = post_json(server.url(), {"run": 7, "noise_floor": 0.12}, allow_private=True)
    assert result.ok and result.status_code == 204 and result.error == ""
    [seen] = server.requests
    assert seen.path == "/hook"
    assert seen.body == b'{"run": 7, "noise_floor": 0.12}'
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "synthreview-webhook"


def test_post_json_reads_the_setting_when_not_told(serve, settings):
    server = serve(answer(200))
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    refused = post_json(server.url(), {"a": 1})
    assert not refused.ok and "refused" in refused.error
    assert server.requests == []
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    assert post_json(server.url(), {"a": 1}).ok


def test_a_host_name_goes_in_the_host_header_while_the_checked_address_is_dialled(serve):
    server = serve(answer(200))
    result = post_json(server.url(host="localhost"), {"a": 1}, allow_private=True)
    assert result.ok, result.error
    assert server.requests[0].headers["Host"] == f"localhost:{server.server_port}"


def test_a_redirect_is_reported_and_never_followed(serve):
    server = serve(answer(302, Location="http://169.254.169.254/latest/meta-data/"))
    result = post_json(server.url(), {"a": 1}, allow_private=True)
    assert not result.ok
    assert result.status_code == 302
    assert "redirect" in result.error
    assert len(server.requests) == 1


def test_a_redirect_back_to_the_same_server_is_not_followed_either(serve):
    server = serve(redirect_to_this_server)
    result = post_json(server.url(), {"a": 1}, allow_private=True)
    assert not result.ok and "redirect" in result.error
    assert [seen.path for seen in server.requests] == ["/hook"]


def test_a_server_error_is_a_failure_with_its_status(serve):
    server = serve(answer(500))
    result = post_json(server.url(), {"a": 1}, allow_private=True)
    assert (result.ok, result.status_code, result.error) == (False, 500, "HTTP 500")


def test_a_server_slower_than_the_timeout_fails_quickly(serve):
    server = serve(stall)
    started = time.monotonic()
    result = post_json(server.url(), {"a": 1}, timeout=1.0, allow_private=True)
    assert time.monotonic() - started < 1.0 + 2
    assert not result.ok and "timed out" in result.error


def test_the_timeout_bounds_the_whole_exchange_not_each_read(serve):
    server = serve(drip_headers)
    started = time.monotonic()
    result = post_json(server.url(), {"a": 1}, timeout=1.0, allow_private=True)
    assert time.monotonic() - started < 1.0 + 1
    assert not result.ok and "timed out" in result.error


def test_a_short_deadline_behind_a_long_one_still_ends_the_exchange_on_time(serve):
    # One watchdog thread serves every deadline: a new, earlier one must wake it
    # from its wait for the later one.
    long_wait = Deadline(30)
    server = serve(drip_headers)
    started = time.monotonic()
    result = post_json(server.url(), {"a": 1}, timeout=1.0, allow_private=True)
    long_wait.cancel()
    assert time.monotonic() - started < 1.0 + 1
    assert not result.ok and "timed out" in result.error


def test_a_cancelled_deadline_never_shuts_its_socket():
    left, right = socket.socketpair()
    with left, right:
        deadline = Deadline(0.1)
        deadline.watch(_StreamOf(left))
        deadline.cancel()
        time.sleep(0.4)
        assert not deadline.expired
        right.sendall(b"still open")
        assert left.recv(16) == b"still open"


@dataclass
class _StreamOf:
    sock: socket.socket

    def get_extra_info(self, name: str) -> socket.socket:
        assert name == "socket"
        return self.sock


def test_a_closed_port_fails_without_raising():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = post_json(f"http://127.0.0.1:{port}/hook", {"a": 1}, timeout=2.0, allow_private=True)
    assert not result.ok
    assert result.status_code is None
    assert "connect" in result.error


def test_a_refused_url_is_never_dialled():
    started = time.monotonic()
    result = post_json("http://169.254.169.254/latest/meta-data/", {"a": 1}, allow_private=True)
    assert not result.ok and "refused" in result.error and "metadata" in result.error
    assert time.monotonic() - started < 1


# --- https: the pinned address is dialled, the host name is checked --------------


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _tls_server_context(cert: Path, key: Path, seen_names: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _context: seen_names.append(name)
    return context


def test_https_sends_the_host_name_as_sni_and_passes_the_certificate_check(serve, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    seen_names: list[str | None] = []
    server = serve(answer(200), tls=_tls_server_context(cert, key, seen_names))
    result = post_json(server.url(host="localhost", scheme="https"), {"a": 1}, allow_private=True)
    assert result.ok, result.error
    assert seen_names == ["localhost"]
    assert server.requests[0].headers["Host"] == f"localhost:{server.server_port}"


def test_https_refuses_a_certificate_for_another_name(serve, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path, "elsewhere.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = serve(answer(200), tls=_tls_server_context(cert, key, []))
    result = post_json(server.url(host="localhost", scheme="https"), {"a": 1}, allow_private=True)
    assert not result.ok
    assert "certificate" in result.error.lower()
    assert server.requests == []
