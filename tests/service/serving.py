"""The real service in a subprocess (``python -m pipelines.serve``) and a small HTTP client for
it: what the service tests (API, outage, dashboard, Prometheus) start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import Settings
from tests.conftest import PASSTHROUGH_ENV, free_port


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def get(url: str, *, token: str | None = None, headers: Mapping[str, str] | None = None,
        method: str = "GET", timeout: float = 30) -> Reply:
    """One request; any status is returned, not raised."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=sent, method=method)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read().decode(),
                         time.monotonic() - start)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read().decode(), time.monotonic() - start)


class ServiceProcess:
    """``python -m pipelines.serve`` on a free port of 127.0.0.1 over ``settings``' store, its
    output in ``log`` (a file)."""

    def __init__(self, settings: Settings, log: Path, *, token: str = "",
                 args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 command: Sequence[str] | None = None) -> None:
        self.settings, self.log_path, self.token = settings, log, token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args, self.extra_env = list(args), dict(env or {})
        self.command = list(command) if command else [sys.executable, "-m", "pipelines.serve"]
        self.proc: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()),
               **PASSTHROUGH_ENV, **self.extra_env}
        if self.token:
            env["CHURNMON_SERVICE__TOKEN"] = self.token
        return env

    def start(self, timeout: float = 180) -> ServiceProcess:
        """Start it; returns once it answers ``/health`` (200 or 503)."""
        paths = self.settings.paths
        self.proc = subprocess.Popen(
            [*self.command, "--port", str(self.port),
             "--tracking-uri", self.settings.tracking.uri,
             "--set", f"paths.output_dir={paths.output_dir}",
             "--set", f"paths.inbox_dir={paths.inbox_dir}", *self.args],
            env=self.environment(), cwd=self.log_path.parent, stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if get(self.url + "/health", timeout=5).status in (200, 503):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the service did not start:\n{self.log()[-3000:]}")
            time.sleep(0.3)

    def get(self, path: str, *, token: str | None = None, authorized: bool = True,
            **kwargs: Any) -> Reply:
        """``path`` with the service's token (``authorized``), or ``token``."""
        if token is None and authorized and self.token:
            token = self.token
        return get(self.url + path, token=token, **kwargs)

    def wait_for(self, path: str, status: int, timeout: float = 60) -> Reply:
        """``path`` asked again until it answers ``status``."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get(path)
            if reply.status == status or time.monotonic() > deadline:
                assert reply.status == status, (path, reply.status, reply.text[:500])
                return reply
            time.sleep(0.3)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` to the service (its process group: also what ``mlflow run`` started)
        and wait; its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        return self.proc.returncode
