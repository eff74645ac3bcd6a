"""Where a webhook may be sent (SSRF): http(s) only, and never to loopback,
private, link-local or other non-global addresses unless private targets are
allowed (``LEDGER_WEBHOOK_ALLOW_PRIVATE``).

Checked twice: on the URL when an endpoint is registered or changed (an IP
literal, or the addresses its name resolves to now), and on every address a
delivery connects to (``projections.webhook_transport``), since a name may
resolve elsewhere later."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from ledger.errors import WebhookTargetError
from ledger.webhook import check_url

#: host, port -> the addresses it resolves to.
Resolver = Callable[[str, int], list[str]]


def refusal(address: str) -> str | None:
    """Why ``address`` may not be a target (None: it may): what kind of range it is in."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, inside in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                         ("private", ip.is_private), ("unspecified", ip.is_unspecified),
                         ("multicast", ip.is_multicast)):
        if inside:
            return kind
    return None if ip.is_global else "non-global"


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuses (``WebhookTargetError``) if any address of ``host`` is not global."""
    for address in addresses:
        kind = refusal(address)
        if kind is not None:
            raise WebhookTargetError(
                f"Webhook target {host} is {address}, a {kind} address; such targets are "
                "refused unless LEDGER_WEBHOOK_ALLOW_PRIVATE=true."
            )


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives ``host`` (empty if none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def check_target(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> None:
    """The registration-time check: the URL's form, then its host's addresses as
    they resolve now. A name that does not resolve yet passes: every delivery
    checks the addresses it connects to."""
    check_url(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    check_addresses(host, addresses)
