"""Fixtures: a clobchain dev node the tests start (``$CLOBCHAIN_BIN``, else the debug
build under ``$CARGO_TARGET_DIR`` or the repository's ``target/``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clobchain import Client, Key

REPO = Path(__file__).resolve().parents[3]


def node_binary() -> str:
    """The node binary the tests run."""
    if os.environ.get("CLOBCHAIN_BIN"):
        return os.environ["CLOBCHAIN_BIN"]
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "clobchain")
    candidates.append(REPO / "target" / "debug" / "clobchain")
    for path in candidates:
        if path.exists():
            return str(path)
    pytest.exit("no clobchain binary: set CLOBCHAIN_BIN or build target/debug/clobchain", 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """A node process on a data directory and port that survive restarts."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [node_binary(), "node", "--data", str(self.data), "--listen",
                 f"127.0.0.1:{self.port}", "--block-interval-ms", "20"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the node did not answer /v1/health within 30 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to websocket clients."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = Node(tmp_path_factory.mktemp("node") / "data")
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def client(node: Node) -> Iterator[Client]:
    with Client(node.url) as c:
        yield c


@pytest.fixture()
def funded(client: Client) -> Key:
    """A fresh funded account."""
    return client.demo_account()
