"""Dependencies point one way: pure <- ports <- processes; only the composition root picks
adapters. Checked by reading every module's imports."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "openmmo"
PURE = ("protocol", "sim", "replication", "auth")
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
