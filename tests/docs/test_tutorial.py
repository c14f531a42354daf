"""The tutorial's code works as written: its last `mygame/__init__.py` and all its
`test_mygame.py` blocks, run with pytest in a fresh folder (as a reader would)."""

import re
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "first-game.md"


def blocks(name):
    text = TUTORIAL.read_text()
    found = re.findall(r"```python\n# " + re.escape(name) + r"\n(.*?)```", text, re.S)
    assert found, f"no block named {name}"
    return found


def test_every_step_of_the_tutorial_game_passes_its_tests(tmp_path):
    for step, module in enumerate(blocks("mygame/__init__.py"), start=1):
        folder = tmp_path / f"step{step}"
        (folder / "mygame").mkdir(parents=True)
        (folder / "mygame" / "__init__.py").write_text(module)
        tests = blocks("test_mygame.py")
        # Each step's game must pass the tests written up to that step.
        (folder / "test_mygame.py").write_text("\n\n".join(tests[:step]))
        expected = sum(
            block.count("\ndef test_") + block.startswith("def test_") for block in tests[:step]
        )
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mygame.py"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, f"step {step}:\n{result.stdout}\n{result.stderr}"
        assert f"{expected} passed" in result.stdout


def test_the_tutorial_links_to_the_reference_and_the_tick():
    text = TUTORIAL.read_text()
    assert "../reference/game-api.md" in text and "../topics/tick.md" in text
