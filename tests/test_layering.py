"""Dependencies point one way: pure <- ports <- processes; only the composition root picks
adapters. Checked by reading every module's imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "openmmo"
PURE = ("protocol", "sim", "replication", "auth", "game")
PORTS = ("storage", "directory", "bus", "sessions", "ratelimit", "matchmaking")
PROCESSES = ("gateway", "zone", "ops", "client", "matchmaker")
IO_LIBRARIES = {
    "asyncio",
    "socket",
    "picows",
    "uvicorn",
    "starlette",
    "httpx",
    "sqlalchemy",
    "aiosqlite",
    "uvloop",
    "subprocess",
}
COMPOSITION_ROOTS = {"compose", "roles", "cli", "testing"}


def imports_of(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def modules(package):
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_do_no_io_and_import_no_ports_or_processes(package):
    for path in modules(package):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in IO_LIBRARIES, f"{path.name} imports {name}"
            if name.startswith("openmmo."):
                assert name.split(".")[1] not in PORTS + PROCESSES, f"{path.name} imports {name}"


@pytest.mark.parametrize("package", PORTS + PROCESSES)
def test_only_the_composition_root_picks_adapters(package):
    for path in modules(package):
        for name in imports_of(path):
            parts = name.split(".")
            if (
                len(parts) >= 3
                and parts[0] == "openmmo"
                and parts[1] in PORTS
                and parts[2] in ("memory", "sql", "redis", "rabbitmq", "postgres")
            ):
                assert parts[1] == package, f"{package}/{path.name} picks adapter {name}"


@pytest.mark.parametrize("package", PORTS)
def test_ports_do_not_depend_on_processes(package):
    for path in modules(package):
        for name in imports_of(path):
            if name.startswith("openmmo."):
                assert name.split(".")[1] not in PROCESSES + tuple(COMPOSITION_ROOTS), (
                    f"{path.name} imports {name}"
                )


def test_every_subpackage_says_its_kind():
    for init in SRC.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if init.parent.name in PURE + PORTS + PROCESSES:
            assert "Kind:" in doc, f"{init.parent.name}/__init__.py does not say its kind"


def game_modules():
    """Every module of a game: the built-in ones and the examples (tests excluded)."""
    paths = sorted((SRC / "games").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    return [p for p in paths if "tests" not in p.relative_to(ROOT).parts[1:]]


def test_there_are_games_to_check():
    names = {p.parent.name for p in game_modules()}
    assert {"default", "ctf"} <= names, names


@pytest.mark.parametrize("path", game_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_game_imports_only_the_public_game_api(path):
    """A game sees openmmo.game and nothing else of OpenMMO: the facade is the stable API,
    everything behind it is free to change."""
    package = path.relative_to(ROOT).parts
    own = "openmmo.games." + package[3] if package[0] == "src" else package[2]
    for name in imports_of(path):
        if name.startswith("openmmo") and not name.startswith(own):
            assert name == "openmmo.game", f"{path.name} imports {name}"
