"""Where a server listens: loopback or not, whether the port is free, and the URL a client on this machine uses."""

from __future__ import annotations

import ipaddress
import socket
from typing import Optional

from swiftkit.errors import SwiftkitError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ALL_INTERFACES = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def is_loopback(host: str) -> bool:
    """Only this machine can connect: 127.0.0.0/8, ::1 or 'localhost'."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(host: str, api_key: Optional[str]) -> None:
    """A server reachable from other machines must require an API key."""
    if not is_loopback(host) and not api_key:
        raise SwiftkitError(
            f"refusing to serve on {host} without an API key: anyone who can reach this machine could use the model. "
            "Set SWIFTKIT_API_KEY, give --api-key-file FILE or --ask-api-key, or keep the default --host 127.0.0.1."
        )


def connect_host(host: str) -> str:
    """The address a client on this machine connects to."""
    return ALL_INTERFACES.get(host, host)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def base_url(host: str, port: int) -> str:
    """The OpenAI base URL (``…/v1``) for a client on this machine."""
    return f"http://{url_host(connect_host(host))}:{port}/v1"


def port_busy(host: str, port: int) -> Optional[str]:
    """Why the server could not listen on ``host:port`` (None: it can), tried the way uvicorn binds."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r} ({exc.strerror})"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a closing server's port is usable
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # something listening with SO_REUSEPORT still answers
        probe.settimeout(0.5)
        if probe.connect_ex((connect_host(host), port, *address[2:])) == 0:
            return "a server answers there"
    return None


def check_port(host: str, port: int) -> None:
    """A port that is taken is an error now, before the model loads (ms-swift would silently move to another)."""
    why = port_busy(host, port)
    if why is not None:
        raise SwiftkitError(
            f"cannot serve on {host}:{port}: {why}. Pick another port with --port N, or stop what is using it "
            f"(see 'ss -ltnp | grep :{port}')."
        )
