"""The README's Python example runs as written against a real local world."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_plays(world):
    example = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    example = example.replace("http://127.0.0.1:8080", world.gateway_url)
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "'type': 'ack'" in result.stdout
    assert "'chat'" in result.stdout  # latencies measured for the chat
