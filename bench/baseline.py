"""The original design, for ``python -m bench compare``: W workers, one queue, one job per worker.

As with RQ: W worker processes block on one shared queue; a worker takes one job, submits it to
fal's queue API, asks for its status at once and then every 1 s until COMPLETED, sleeps 0.5 s,
fetches the result and downloads the image (where the original then sent it to Telegram), reports
the job done and only then takes the next one.

RQ itself is not used: it needs a Redis server, which CI machines do not have. The queue is a small
server in the benchmark's own process (``multiprocessing.connection``, as Redis is a process of its
own that the comparison does not count); each worker is a separate interpreter that imports only
httpx, so the baseline's memory is what W such workers cost at least (RQ adds its own code and forks
a work horse per job). No dependency beyond the workspace's.

``python -m bench.baseline --queue HOST:PORT --fal-queue-base URL`` runs one worker; the key comes
from ``FAL_KEY`` and the queue's authentication key from ``BENCH_QUEUE_AUTHKEY`` (hex), as a worker
takes its secrets from the environment.
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import httpx

POLL_S = 1.0
RESULT_DELAY_S = 0.5
READY_TIMEOUT_S = 60.0


# ----- one worker (its own process) ---------------------------------------------------------------------


def _run_job(http: httpx.Client, fal_queue_base: str, job: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"job_id": job["job_id"], "request_id": None, "polls": 0, "error": None}
    try:
        submitted = http.post(f"{fal_queue_base}/{job['model_id']}", json=job["body"])
        submitted.raise_for_status()
        urls = submitted.json()
        record["request_id"] = urls["request_id"]
        while True:
            status = http.get(urls["status_url"])
            status.raise_for_status()
            record["polls"] += 1
            if status.json()["status"] == "COMPLETED":
                break
            time.sleep(POLL_S)
        time.sleep(RESULT_DELAY_S)
        result = http.get(urls["response_url"])
        result.raise_for_status()
        image = http.get(result.json()["images"][0]["url"])
        image.raise_for_status()
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
        record["error"] = f"{type(error).__name__}: {error}"[:200]
    record["delivered_at"] = time.monotonic()
    return record


def work(address: tuple[str, int], authkey: bytes, fal_queue_base: str, fal_key: str) -> None:
    """Take jobs until the queue answers ``None``; report each one's record before the next."""
    with (
        Client(address, authkey=authkey) as jobs,
        httpx.Client(headers={"Authorization": f"Key {fal_key}"}, timeout=30.0) as http,
    ):
        jobs.send(os.getpid())
        while (job := jobs.recv()) is not None:
            jobs.send(_run_job(http, fal_queue_base, job))


# ----- the pool (the benchmark's process) ---------------------------------------------------------------


@dataclass
class WorkerPool:
    """W worker processes on one queue; ``run`` puts a batch of jobs on it and collects the records.

    ``start``, ``run`` and ``stop`` block: call them off the event loop that serves the emulator.
    """

    workers: int
    fal_queue_base: str
    fal_key: str
    logdir: Path
    pids: dict[str, int] = field(default_factory=dict)
    _jobs: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    _records: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    _ready: queue.Queue[int] = field(default_factory=queue.Queue)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _served: list[threading.Thread] = field(default_factory=list)
    _listener: Listener | None = None

    def start(self) -> None:
        authkey = secrets.token_bytes(16)
        self._listener = Listener(("127.0.0.1", 0), authkey=authkey)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        host, port = self._listener.address
        env = {**os.environ, "FAL_KEY": self.fal_key, "BENCH_QUEUE_AUTHKEY": authkey.hex()}
        command = [sys.executable, "-m", "bench.baseline", "--queue", f"{host}:{port}"]
        self.logdir.mkdir(parents=True, exist_ok=True)
        for n in range(self.workers):
            with (self.logdir / f"baseline-worker-{n}.log").open("wb") as log:
                self._procs.append(
                    subprocess.Popen(
                        [*command, "--fal-queue-base", self.fal_queue_base],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for n in range(self.workers):
            try:
                self.pids[f"worker-{n}"] = self._ready.get(timeout=READY_TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(f"baseline workers did not start; see {self.logdir}") from None

    def _accept(self, listener: Listener) -> None:
        while len(self._served) < self.workers:
            try:
                connection = listener.accept()
            except OSError:  # closed by stop() before every worker came
                return
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._served.append(thread)

    def _serve(self, connection: Connection) -> None:
        """The queue as one worker sees it: the next job once it has reported the last one."""
        with connection:
            self._ready.put(connection.recv())
            while (job := self._jobs.get()) is not None:
                connection.send(job)
                self._records.put(connection.recv())
            connection.send(None)

    def run(self, jobs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """Enqueue ``jobs`` (``job_id``, ``model_id``, ``body``) at once; their records, as they end."""
        for job in jobs:
            self._jobs.put(job)
        deadline = time.monotonic() + timeout
        return [self._records.get(timeout=max(0.0, deadline - time.monotonic())) for _ in jobs]

    def stop(self) -> None:
        for _ in self._served:
            self._jobs.put(None)
        for thread in self._served:
            thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--queue", required=True, metavar="HOST:PORT")
    parser.add_argument("--fal-queue-base", required=True)
    args = parser.parse_args(argv)
    host, _, port = args.queue.rpartition(":")
    work(
        (host, int(port)),
        bytes.fromhex(os.environ["BENCH_QUEUE_AUTHKEY"]),
        args.fal_queue_base,
        os.environ["FAL_KEY"],
    )


if __name__ == "__main__":
    main()
