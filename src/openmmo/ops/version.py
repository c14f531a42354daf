"""Build information for /version and ``openmmo version``."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

from openmmo import __version__


@functools.cache
def build_info() -> dict[str, str]:
    """Version, git commit and build date: from the image's build arguments
    (OPENMMO_GIT_COMMIT, OPENMMO_BUILD_DATE), else from the source checkout."""
    return {
        "version": __version__,
        "git_commit": os.environ.get("OPENMMO_GIT_COMMIT") or _checkout_commit() or "unknown",
        "build_date": os.environ.get("OPENMMO_BUILD_DATE", "unknown"),
        "python": platform.python_version(),
    }


def _checkout_commit() -> str | None:
    source = Path(__file__).resolve().parents[3]
    if not (source / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
