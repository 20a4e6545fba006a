"""A Secret volume written as the kubelet writes one, for tests of files the bot re-reads."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret_volume(volume: Path, files: dict[str, str]) -> None:
    """Each update goes to a new timestamped folder, then one atomic rename of the `..data` link
    switches every file at once; each file's path is a link through `..data` (kubelet's AtomicWriter)."""
    volume.mkdir(exist_ok=True)
    generation = len([entry for entry in volume.iterdir() if entry.name.startswith("..20")])
    folder = volume / f"..2026_11_22_{generation:04d}"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_text(content)
    (volume / "..data_tmp").symlink_to(folder.name)
    os.replace(volume / "..data_tmp", volume / "..data")
    for name in files:
        link = volume / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
