"""The page's third-party JavaScript is exactly what web/package-lock.json builds (no hand edits,
no stale bundle): the committed static/vendor.js is rebuilt from the lockfile and compared."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "web"
BUNDLE = ROOT / "bot_image" / "chatbot_server" / "static" / "vendor.js"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="node and npm are not installed")


def test_the_committed_bundle_is_what_the_lockfile_builds(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json", "vendor.js", "build.mjs"):
        shutil.copy(WEB / name, tmp_path / name)
    # --ignore-scripts: the packages' install scripts are not needed to build, and do not run.
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(["node", "build.mjs", str(tmp_path / "out.js")], cwd=tmp_path, check=True, timeout=120)
    assert (tmp_path / "out.js").read_bytes() == BUNDLE.read_bytes(), (
        "static/vendor.js differs from what web/ builds: run `make web` and commit the result"
    )


def test_the_bundle_carries_the_licence_notices_of_what_it_holds() -> None:
    head = BUNDLE.read_text(encoding="utf-8")
    assert "marked v" in head
    assert "MIT License" in head
    assert "@license DOMPurify" in head
