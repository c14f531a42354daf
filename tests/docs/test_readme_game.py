"""The README's game example loads and plays as written (through the test kit)."""

import re
import sys
from pathlib import Path

from openmmo.testing import GameZone

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_game_loads_and_its_hook_runs(tmp_path, monkeypatch):
    text = README.read_text()
    source = re.search(r"```python\n# mygame/__init__.py\n(.*?)```", text, re.S).group(1)
    (tmp_path / "mygame").mkdir()
    (tmp_path / "mygame" / "__init__.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        meadow = GameZone("mygame", spawn_npcs=False)
        hero = meadow.add_player("Hero", x=100, y=100)
        slime = meadow.spawn("slime", 102, 100)
        while slime.alive:
            meadow.attack(hero, slime, "bonk")
            meadow.sleep(1.0)
        assert meadow.game_events("cheer") == [{"type": "cheer", "by": hero.id}]
        assert hero.xp == 20 and meadow.hook_failures == []
    finally:
        sys.modules.pop("mygame", None)
