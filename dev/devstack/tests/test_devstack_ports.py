"""Ports of the dev stack: the emulators choose their own, and a port picked beforehand is never
picked twice."""

from pathlib import Path
from urllib.parse import urlsplit

from medialab_devstack.launcher import Stack
from medialab_devstack.ports import free_port, wait_for_port


def test_a_port_picked_beforehand_is_never_picked_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_emulators_started_side_by_side_each_serve_the_url_wired_for_them(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path, env={})
    try:
        stack.start_sandboxes()
        wired = {
            "telegram-emulator": stack.env["TELEGRAM_API_BASE"],
            "fal-emulator": stack.env["FAL_REST_BASE"].removesuffix("/rest"),
            "wavespeed-emulator": stack.env["WAVESPEED_API_BASE"],
            "yookassa-emulator": stack.env["YOOKASSA_API_BASE"],
        }
        announced = {proc.name: proc.health_url for proc in stack.emulators}
        assert wired == announced
        ports = [urlsplit(url).port for url in wired.values()]
        assert len(set(ports)) == len(ports) and 0 not in ports
        for proc in stack.emulators:
            wait_for_port(proc.http_port, timeout=1, alive=proc.alive)
    finally:
        stack.stop()
