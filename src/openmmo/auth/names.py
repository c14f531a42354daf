"""Rules for usernames, passwords, device ids and character names."""

from __future__ import annotations

import re

USERNAME = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
CHARACTER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,15}")
DEVICE_ID = re.compile(r"[A-Za-z0-9_.:\-]{8,128}")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
RESERVED = frozenset(
    {
        "admin",
        "administrator",
        "gm",
        "gamemaster",
        "moderator",
        "system",
        "server",
        "openmmo",
        "support",
    }
)


def username_problem(username: str) -> str | None:
    if not USERNAME.fullmatch(username):
        return "username must be 3-32 characters: letters, digits, '_', '.', '-'"
    if username.lower() in RESERVED:
        return "username is reserved"
    return None


def password_problem(password: str) -> str | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters"
    return None


def character_name_problem(name: str) -> str | None:
    if not CHARACTER_NAME.fullmatch(name):
        return "name must be 3-16 characters: a letter, then letters, digits or '_'"
    if name.lower() in RESERVED:
        return "name is reserved"
    return None


def device_id_problem(device_id: str) -> str | None:
    if not DEVICE_ID.fullmatch(device_id):
        return "device_id must be 8-128 characters: letters, digits, '_', '.', ':', '-'"
    return None
