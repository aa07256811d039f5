"""Outbound HTTP to URLs that admins type in: alert webhooks and the base URLs
of OpenAI-compatible generators.

Such a URL is a server-side request forgery risk: pointed at 169.254.169.254 it
would hand the cloud's instance credentials to whoever can read the response,
and pointed at 10.x it probes the internal network. So every URL is checked
where it is saved (`OutboundURLValidator`) and again where it is used
(`post_json`), because DNS can change in between.

httpx and not requests: httpx has explicit connect/read/write/pool timeouts
(5 s unless told, where requests waits forever) and does not follow redirects
unless asked (`follow_redirects=False` is its default; requests follows them).
Neither bounds a whole exchange, hence `Deadline` below.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import json
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.deconstruct import deconstructible

logger = logging.getLogger(__name__)

USER_AGENT = "synthreview-webhook"
MAX_URL_LENGTH = 2048

# Refused by name before any lookup, so they are refused even where they do not
# resolve (a test box) and even if a resolver maps them somewhere unexpected.
METADATA_HOST_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
# Cloud metadata services outside 169.254/16, which is refused as link-local anyway:
# AWS over IPv6, Alibaba Cloud, and Oracle Cloud's legacy endpoint.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# RFC 6052 well-known NAT64 prefix: on an IPv6-only host with DNS64, a public
# IPv4 host resolves only to an address in here, so it is judged by the IPv4 inside.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class OutboundResult:
    ok: bool
    status_code: int | None = None
    error: str = ""


@dataclass(frozen=True)
class OutboundTarget:
    url: str
    addresses: tuple[str, ...]


def validate_outbound_url(url: str, *, allow_private: bool = False) -> str:
    """Return `url` normalised (lower-case scheme and host, no fragment), or raise
    ValidationError if it may not be fetched from this server.

    Link-local, cloud metadata, multicast, unspecified and reserved addresses are
    refused always; loopback and private ones unless `allow_private`. Every
    address the host resolves to is checked, not just the first.
    """
    return resolve_outbound_url(url, allow_private=allow_private).url


@deconstructible
class OutboundURLValidator:
    """Field validator for a URL the server will call; honours OUTBOUND_ALLOW_PRIVATE_HOSTS."""

    def __call__(self, value: str) -> None:
        validate_outbound_url(value, allow_private=settings.OUTBOUND_ALLOW_PRIVATE_HOSTS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutboundURLValidator)

    def __hash__(self) -> int:
        return hash(OutboundURLValidator)


def post_json(
    url: str, payload: dict[str, Any], *, timeout: float = 5.0, allow_private: bool | None = None
) -> OutboundResult:
    """POST `payload` as JSON; ok only for a 2xx answer. Never raises for a refused
    URL or a network failure: the caller records the error text instead.

    `timeout` bounds the whole exchange (DNS aside), not each read. Redirects are
    reported as failures and never followed, since a redirect's target was never
    validated. The response body is never read: a webhook's answer is its status,
    and echoing a body back to the page would turn a blind SSRF into a readable one.
    """
    if allow_private is None:
        allow_private = settings.OUTBOUND_ALLOW_PRIVATE_HOSTS
    body = json.dumps(payload, cls=DjangoJSONEncoder).encode()
    try:
        target = resolve_outbound_url(url, allow_private=allow_private)
    except ValidationError as error:
        return _failed(url, f"refused: {' '.join(error.messages)}")

    original = httpx.URL(target.url)
    headers = {
        # Set by hand because the URL sent names the pinned address, not the host.
        "Host": original.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    # Connect to an address that was just validated, not to whatever a second
    # lookup returns: that closes the DNS-rebinding window between check and use.
    # For https the host name still goes in SNI and the certificate check through
    # httpcore's documented "sni_hostname" extension, so pinning costs no TLS safety.
    extensions = {"sni_hostname": original.raw_host.decode("ascii")} if original.scheme == "https" else {}
    deadline = Deadline(timeout)
    last_error = "no address to connect to"
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        # No proxy or .netrc from the environment: a proxy would do its own DNS
        # lookup, defeating the check, and .netrc could attach credentials.
        trust_env=False,
        verify=outbound_ssl_context(),
    ) as client:
        try:
            for address in target.addresses:
                if deadline.expired:
                    break
                request = client.build_request(
                    "POST",
                    original.copy_with(host=address),
                    headers=headers,
                    content=body,
                    timeout=httpx.Timeout(deadline.remaining()),
                    extensions={**extensions, "trace": deadline.trace},
                )
                try:
                    response = client.send(request, stream=True)
                except httpx.ConnectError as error:
                    # The next address may be reachable (IPv6 resolved but not routed).
                    last_error = f"could not connect: {error}"
                    continue
                response.close()
                if 300 <= response.status_code < 400:
                    return _failed(url, f"redirect refused (HTTP {response.status_code})", response.status_code)
                if not response.is_success:
                    return _failed(url, f"HTTP {response.status_code}", response.status_code)
                return OutboundResult(ok=True, status_code=response.status_code)
        except httpx.TimeoutException:
            return _failed(url, f"timed out after {timeout:g}s")
        except (httpx.HTTPError, OSError) as error:
            if not deadline.expired:
                return _failed(url, f"{type(error).__name__}: {error}")
        finally:
            deadline.cancel()
    if deadline.expired:
        return _failed(url, f"timed out after {timeout:g}s")
    return _failed(url, last_error)


def _failed(url: str, error: str, status_code: int | None = None) -> OutboundResult:
    # The host only: webhook URLs often carry a secret token in the path.
    logger.warning("outbound POST to %s failed: %s", urlsplit(url).hostname, error)
    return OutboundResult(ok=False, status_code=status_code, error=error)


def outbound_ssl_context() -> ssl.SSLContext:
    # trust_env here only reads SSL_CERT_FILE/SSL_CERT_DIR, so a private CA still works.
    return httpx.create_ssl_context(trust_env=True)


class Deadline:
    """Bounds a whole exchange. httpx's timeouts apply to each socket operation,
    so a server that drips one header byte a second would never trip them; this
    shuts the socket down when the total time is up, which wakes the blocked read
    at once. One watchdog thread serves every deadline of the process: a timer
    thread per call would cost more than the call itself at generation rates."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self.cancelled = False
        self.ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        _watchdog.add(self)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        # httpcore's "trace" extension hands over each new stream; after TLS the
        # socket is a new object on the same descriptor, so keep the latest.
        if event in {"connection.connect_tcp.complete", "connection.start_tls.complete"}:
            self.watch(info["return_value"])

    def watch(self, stream: Any) -> None:
        """Shut `stream` (an httpcore network stream) when time is up. `trace` sees
        only new connections; a pooled one is handed over from the response."""
        with self._lock:
            self._socket = stream.get_extra_info("socket")
            expired = self.expired
        if expired:
            self._shut()

    def remaining(self) -> float:
        # Connecting has no socket to shut yet, so each attempt's own timeouts
        # are cut to what is left of the total.
        return max(self.ends_at - time.monotonic(), 0.001)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._socket = None

    def expire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.expired = True
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is None:
            return
        try:
            # socket.socket's own shutdown, bypassing SSLSocket's, which would
            # also drop the TLS object under the reading thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the exchange ended on its own


class _DeadlineWatchdog:
    """A heap of deadlines and one daemon thread that expires them in time order.
    A cancelled deadline stays in the heap until its time and is then skipped; the
    heap is swept of them now and then, so it holds about a sweep's worth of calls."""

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._reset()
        # A forked child (a Celery prefork worker) gets a copy of the heap and the
        # lock but not the thread, and must not shut the parent's sockets.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._wake:
            number = next(self._counter)
            if number % self.SWEEP_EVERY == 0 and len(self._heap) >= self.SWEEP_EVERY:
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (deadline.ends_at, number, deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbound-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._wake.wait(self._heap[0][0] - now)
                    continue
            for deadline in due:
                try:
                    deadline.expire()
                except Exception:  # one bad socket must not stop every other deadline
                    logger.exception("expiring an outbound deadline failed")


_watchdog = _DeadlineWatchdog()


def resolve_outbound_url(url: str, *, allow_private: bool) -> OutboundTarget:
    """`validate_outbound_url`, also returning every address the host resolved to,
    so the caller connects to a checked address and not to a second lookup's."""
    if not isinstance(url, str) or not url:
        raise ValidationError("Enter a URL.", code="invalid")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"The URL is longer than {MAX_URL_LENGTH} characters.", code="invalid")
    if any(char <= " " or char in "\x7f\\" for char in url):
        # Parsers disagree about backslashes and stray whitespace; refusing them
        # means the URL checked here is the URL fetched.
        raise ValidationError("The URL contains spaces, control characters or backslashes.", code="invalid")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValidationError("Only http:// and https:// URLs are allowed.", code="scheme")
    if "@" in parts.netloc:
        raise ValidationError("The URL must not contain a user name or password.", code="userinfo")
    host = parts.hostname
    if not host:
        raise ValidationError("The URL must name a host.", code="host")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("The URL's port is not a number from 1 to 65535.", code="port") from None
    if port == 0:
        raise ValidationError("The URL's port is not a number from 1 to 65535.", code="port")
    if "%" in host:
        raise ValidationError("IPv6 zone identifiers and percent-encoded host names are not allowed.", code="host")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(f"{host!r} is not a valid host name.", code="host") from None
    if host.rstrip(".") in METADATA_HOST_NAMES:
        raise ValidationError(f"{host} is a cloud metadata service, which is never allowed.", code="forbidden_address")

    try:
        infos = socket.getaddrinfo(host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError(f"The host {host} does not resolve.", code="unresolvable") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise ValidationError(f"The host {host} does not resolve.", code="unresolvable")
    for address in addresses:
        problem, always = _address_problem(ipaddress.ip_address(address))
        if problem and (always or not allow_private):
            where = f"{host} is" if host == address else f"{host} resolves to {address},"
            if always:
                raise ValidationError(f"{where} {problem}, which is never allowed.", code="forbidden_address")
            raise ValidationError(
                f"{where} {problem}; set OUTBOUND_ALLOW_PRIVATE_HOSTS to allow it.", code="private_address"
            )

    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    normalised = f"{scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return OutboundTarget(url=normalised, addresses=addresses)


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, bool]:
    """("" , False) for a public address; otherwise what it is, and whether it is
    refused even with OUTBOUND_ALLOW_PRIVATE_HOSTS on."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 reaches the IPv4 host: judge that one.
        if address.ipv4_mapped is not None:
            return _address_problem(address.ipv4_mapped)
        if address in NAT64_PREFIX:
            return _address_problem(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            problem = _address_problem(address.sixtofour)
            if problem[0]:
                return problem
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address", True
    if address.is_link_local:
        return "a link-local address", True
    if address.is_unspecified:
        return "an unspecified address", True
    if address.is_multicast:
        return "a multicast address", True
    # Before reserved: IPv6's reserved ::/8 contains ::1.
    if address.is_loopback:
        return "a loopback address", False
    if address.is_reserved:
        return "a reserved address", True
    if address.is_private or not address.is_global:
        return "a private address", False
    return "", False
