"""The init containers' termination message: `<Reason>: <message>`, which the operator reads back
from the container's terminated state (the corpus fetch's and the golden questions' failures)."""

import sys
from pathlib import Path
from typing import Final

# Kubernetes keeps at most 4096 bytes of a termination message.
LIMIT_BYTES: Final = 4000


def write_termination_message(path: Path, reason: str, message: str) -> None:
    """Write `<reason>: <message>`, cut to what Kubernetes keeps; a failure to write is only logged
    (the container's exit code still says it failed)."""
    text = f"{reason}: {message}"
    try:
        path.write_text(text.encode()[:LIMIT_BYTES].decode(errors="ignore"))
    except OSError as error:
        print(f"could not write the termination message to {path}: {error}", file=sys.stderr)
