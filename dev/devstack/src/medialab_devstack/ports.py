"""Free-port discovery and waiting for a TCP port to accept connections."""

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
