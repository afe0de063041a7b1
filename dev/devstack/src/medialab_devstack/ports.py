"""Free-port discovery and waiting for a TCP port to accept connections."""

import socket
import threading
import time
from collections.abc import Callable

_handed_out: set[int] = set()
_handing_out = threading.Lock()


def free_port() -> int:
    """A port nothing listens on now and that this process never handed out before.

    Free only now: another process may take it before the one it is for binds it, so a process that
    can bind port 0 and tell its port (the services, the emulators) is started that way instead. This
    is for ports that must be known beforehand (a NATS cluster's routes, a webhook to announce). The
    kernel hands a port it just gave back out again, so without the memory two of these a moment apart
    could be the same.
    """
    with _handing_out:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout: float = 15.0, alive: Callable[[], bool] | None = None
) -> None:
    """Until ``port`` accepts connections; ``alive`` (the listening process still runs) ends the wait
    at once when it says no, instead of at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if alive is not None and not alive():
                raise RuntimeError(f"the process that was to listen on {host}:{port} has exited") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)
