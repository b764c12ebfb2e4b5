"""examples/quickstart.py runs as written against the test node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import Node

from clobchain import Client

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
REPO = Path(__file__).resolve().parents[3]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_readmes_show_the_example_as_it_is() -> None:
    example = EXAMPLE.read_text()
    assert len(example.splitlines()) == 5, "the README promises five lines"
    for readme in (REPO / "README.md", EXAMPLE.parents[1] / "README.md"):
        assert example in python_blocks(readme.read_text()), f"{readme} shows another example"


def test_quickstart_runs_as_written(node: Node, client: Client) -> None:
    env = {**os.environ, "CLOBCHAIN_URL": node.url}
    run = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    match = re.fullmatch(r"committed \[(\d+)\] Level\(price=(\d+), qty=(\d+)\)\n", run.stdout)
    assert match, run.stdout
    order = client.order(int(match.group(1)))
    assert order.price == 6_500_000 and order.market == 0
    assert int(match.group(2)) >= 6_500_000 and int(match.group(3)) > 0
