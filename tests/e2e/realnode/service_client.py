"""A client that asks a bot through its Service without pause, run inside the real node's network
namespace (where ClusterIPs route) by the real-pods tests:

    hack/cluster.sh node-exec python service_client.py URL STOP_FILE OUT_FILE [QUESTION]

Each request opens a new connection, so kube-proxy spreads them over the Service's endpoints as it
does any client's. It stops when STOP_FILE exists and writes one JSON line per request to OUT_FILE:
{"t": seconds since the epoch, "ok": bool, "detail": status or error, "answer": the answer or null}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx


def main(url: str, stop_file: str, out_file: str, question: str = "What does the operator do?") -> None:
    body = {"messages": [{"role": "user", "content": question}]}
    with Path(out_file).open("w", buffering=1) as out:
        while not Path(stop_file).exists():
            started = time.time()
            answer = None
            try:
                response = httpx.post(f"{url}/api/chat", json=body, timeout=10)
                ok, detail = response.status_code == 200, str(response.status_code)
                if ok:
                    answer = response.json().get("answer")
            except httpx.HTTPError as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            out.write(json.dumps({"t": started, "ok": ok, "detail": detail, "answer": answer}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
