"""``nnkit playground --serve [URL]``: bind, print the address, and serve until interrupted."""

from __future__ import annotations

import ipaddress
import socket
import sys

__all__ = ["serve", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _hosts(host: str, port: int) -> set:
    """The Host headers the page answers: the bound address and, on loopback, localhost."""
    shown = f"[{host}]" if ":" in host else host
    hosts = {f"{shown}:{port}"}
    if is_loopback(host):
        hosts |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    return hosts


def serve(link: str = "", host: str = "127.0.0.1", port: int = 0, backend: str | None = "numpy",
          out=None) -> int:
    """Serve the live Playground page; ``link`` (a Playground URL) opens in a tab without a hash.

    Binds ``host`` (127.0.0.1 unless told) on ``port`` (0: a free one), prints the page's address
    and serves until interrupted. Returns the exit status.
    """
    out = sys.stdout if out is None else out
    try:
        import uvicorn

        from nnkit.serve.app import create_app
    except ImportError as exc:
        print(f"nnkit playground --serve needs the 'serve' extra (pip install 'nnkit[serve]'): {exc}",
              file=sys.stderr)
        return 2
    from nnkit.backend import get_backend
    from nnkit.serve.controls import ControlError

    if backend is None:
        backend = "numpy"
    if backend == "auto":
        backend = get_backend("auto").name
    any_host = host in ("0.0.0.0", "::")
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    try:
        app = create_app(link or "", hosts=_hosts(host, port), any_host=any_host, default_backend=backend)
    except ControlError as exc:
        sock.close()
        print(f"nnkit playground: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(f"warning: serving on {host}, not only this machine: anyone who can reach port {port} there "
              "can train networks on it", file=out)
    shown = "127.0.0.1" if any_host else (f"[{host}]" if ":" in host else host)
    print(f"nnkit playground: serving on http://{shown}:{port}/ (Ctrl-C stops it)", file=out, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws_max_size=1 << 16,
                            ws_ping_interval=None)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
