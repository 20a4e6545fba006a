"""Writes a one-layer image as a `docker save` archive, which `ctr images import` reads.

    python3 hack/image_tar.py OUT.tar NAME:TAG ENTRYPOINT FILE=PATH_IN_IMAGE...

The real node's pause image is a single static binary (hack/build-tools.sh compiles it from
k8s.io/kubernetes's build/pause): it needs no image builder and no registry, only this archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def layer(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for inside, source in sorted(files.items()):
            info = tar.gettarinfo(str(source), arcname=inside.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with source.open("rb") as data:
                tar.addfile(info, data)
    return buffer.getvalue()


def main(out: str, name: str, entrypoint: str, *specs: str) -> None:
    # Resolved: a symlink (the toolset links to the cache) would go in as a link, not the file.
    files = {inside: Path(source).resolve() for source, inside in (spec.split("=", 1) for spec in specs)}
    layer_bytes = layer(files)
    layer_digest = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": [entrypoint], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        },
        sort_keys=True,
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [name], "Layers": [f"{layer_digest}/layer.tar"]}]
    ).encode()
    with tarfile.open(out, mode="w") as archive:
        for member, data in (
            (f"{layer_digest}/layer.tar", layer_bytes),
            (config_name, config),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
