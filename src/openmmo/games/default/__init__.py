"""The default world: a peaceful town, the wilds beyond its east gate, three kinds of
monster, two classes, a quest, loot and potions.

Written only against :mod:`openmmo.game`, like any game: it is the first user of the API,
not a special case. The pieces live in :mod:`.world` (zones, classes, skills, monsters) and
:mod:`.play` (hooks: the quest, mana, potions, emotes and chat commands).
"""

from openmmo.games.default.play import game

__all__ = ["game"]
