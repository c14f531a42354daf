"""Finding and loading a game: ``OPENMMO_GAME`` names an entry point or a module.

A name is looked up first among the entry points of the group ``openmmo.games`` (installed
packages declare ``mygame = "mygame:game"``; OpenMMO's own ``default`` is one), then imported
as a module path (``mygame`` or ``studio.games.arena``) whose attribute ``game`` is the
:class:`~openmmo.sim.declare.Game`. Every failure is one :class:`GameError` naming the
setting and what went wrong, and the game's declarations are checked before it is returned.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from openmmo.protocol.codes import ErrorCode
from openmmo.sim.declare import Game, GameError

ENTRY_POINT_GROUP = "openmmo.games"
DEFAULT_GAME = "default"
_BUILT_IN = {"default": "openmmo.games.default:game"}


def resolve(name: str) -> tuple[str, str]:
    """(module, attribute) of the game called ``name``."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            module, _, attribute = point.value.partition(":")
            return module, attribute or "game"
    target = _BUILT_IN.get(name, name)
    module, _, attribute = target.partition(":")
    return module, attribute or "game"


def load_game(name: str = DEFAULT_GAME, *, fresh: bool = False) -> Game:
    """Import and check the game ``name``. With ``fresh``, the module and its submodules
    are imported anew from their source (hot reload); a failed fresh import leaves the
    modules as they were."""
    if not name.strip():
        raise GameError("OPENMMO_GAME is empty: name an entry point or a module")
    module_name, attribute = resolve(name.strip())
    module = _import(name, module_name, fresh)
    game = getattr(module, attribute, None)
    if not isinstance(game, Game):
        raise GameError(
            f"OPENMMO_GAME={name!r}: module {module_name!r} has no `{attribute} = Game(...)`"
        )
    game.module = module_name
    game.check(core_error_codes=[code.value for code in ErrorCode])
    return game


def _import(name: str, module_name: str, fresh: bool) -> ModuleType:
    saved: dict[str, ModuleType] = {}
    if fresh:
        saved = _forget(module_name)
        importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        sys.modules.update(saved)
        if exc.name is not None and module_name.startswith(exc.name):
            raise GameError(
                f"OPENMMO_GAME={name!r}: no module named {module_name!r} (and no entry point "
                f"{name!r} in the group {ENTRY_POINT_GROUP!r}); is it on PYTHONPATH?"
            ) from None
        raise GameError(f"OPENMMO_GAME={name!r}: importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        sys.modules.update(saved)
        raise GameError(
            f"OPENMMO_GAME={name!r}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _forget(module_name: str) -> dict[str, ModuleType]:
    """Take the module and its submodules out of ``sys.modules`` (returned, to restore)
    and drop their cached bytecode: an edit within the same second and of the same size
    would otherwise be read from a stale ``.pyc``."""
    gone = {
        key: mod
        for key, mod in sys.modules.items()
        if key == module_name or key.startswith(module_name + ".")
    }
    writes_bytecode = sys.implementation.cache_tag is not None  # else there is no .pyc
    for key, mod in gone.items():
        del sys.modules[key]
        source = getattr(mod, "__file__", None)
        if writes_bytecode and source and source.endswith(".py"):
            with contextlib.suppress(OSError):
                Path(importlib.util.cache_from_source(source)).unlink(missing_ok=True)
    return gone


def source_paths(game: Game) -> list[Path]:
    """Files and folders to watch for changes of ``game`` (its package, or its module)."""
    module = sys.modules.get(game.module)
    source = getattr(module, "__file__", None)
    if not source:
        return []
    path = Path(source).resolve()
    return [path.parent] if path.name == "__init__.py" else [path]
