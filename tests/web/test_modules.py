"""The browser pages' own modules, tested by node's test runner (no browser needed)."""

import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def test_the_protocol_module_passes_its_node_tests():
    node = shutil.which("node")
    assert node, "node is missing (scripts/tools.sh uses it too)"
    done = subprocess.run(
        [node, "--test", str(HERE / "net.test.mjs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    written = len(re.findall(r"^test\(", (HERE / "net.test.mjs").read_text(), re.M))
    assert f"# pass {written}\n" in done.stdout and "# fail 0\n" in done.stdout, done.stdout
