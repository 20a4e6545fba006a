"""Real git servers on loopback for the corpus tests.

`GitServer` keeps bare repositories in a temporary directory and serves them two ways at once:
`git daemon` for `git://` URLs, and `git http-backend` behind a small threaded HTTP server for
`http://` URLs, where repositories marked private demand HTTP Basic authentication (any user name,
the token as password, as GitHub and GitLab accept personal access tokens). Tests change the
repositories while the servers run (`commit`, `tag`, `delete_repo`).

`SilentServer` accepts connections and never answers, for timeout tests.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Author, committer and config for the servers' own git commands: nothing from the developer's
# ~/.gitconfig leaks into the tests.
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Corpus Test",
    "GIT_AUTHOR_EMAIL": "corpus-test@example.invalid",
    "GIT_COMMITTER_NAME": "Corpus Test",
    "GIT_COMMITTER_EMAIL": "corpus-test@example.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to commit, pointing at `target`."""

    target: str


class GitServer:
    """Bare repositories under `root`, served by git daemon and git http-backend on loopback
    (or on `host`: the real node's pods reach the host at its end of the node's veth)."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.host = host
        self.repos = root / "repos"
        self.repos.mkdir(parents=True)
        self._work = root / "work"
        self._work.mkdir()
        # Repository name -> accepted tokens; absent means public.
        self.private: dict[str, set[str]] = {}
        self.http_requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self._daemon: subprocess.Popen[bytes] | None = None
        self._http: ThreadingHTTPServer | None = None
        self.git_port = 0
        self.http_port = 0

    # --- serving -------------------------------------------------------------------------------
    def start(self) -> None:
        self.git_port = free_port()
        self._daemon = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                f"--base-path={self.repos}",
                f"--listen={self.host}",
                f"--port={self.git_port}",
                str(self.repos),
            ],
            env={**os.environ, **_GIT_ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.git_port, host=self.host)
        self._http = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="git-http", daemon=True).start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._daemon is not None:
            self._daemon.terminate()
            try:
                self._daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait()

    def git_url(self, name: str) -> str:
        return f"git://{self.host}:{self.git_port}/{name}.git"

    def http_url(self, name: str) -> str:
        return f"http://{self.host}:{self.http_port}/{name}.git"

    # --- changing repositories -----------------------------------------------------------------
    def create_repo(
        self, name: str, files: Mapping[str, str | bytes], *, branch: str = "main", private_token: str = ""
    ) -> str:
        """A bare repository with one commit of `files` on `branch`; returns the commit."""
        bare = self.repos / f"{name}.git"
        _git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(bare))
        # Partial clone (blob filters) as GitHub and GitLab serve it, so the fetch of only the
        # configured paths is exercised.
        _git("config", "uploadpack.allowFilter", "true", cwd=bare)
        _git("config", "http.receivepack", "false", cwd=bare)
        work = self._work / name
        _git("init", "--quiet", f"--initial-branch={branch}", str(work))
        _git("remote", "add", "origin", str(bare), cwd=work)
        if private_token:
            self.private[name] = {private_token}
        return self.commit(name, files, branch=branch, message="Initial corpus")

    def commit(
        self,
        name: str,
        files: Mapping[str, str | bytes | Symlink | None],
        *,
        branch: str = "main",
        message: str = "Update corpus",
    ) -> str:
        """Writes (or, for None, deletes) `files` on `branch` and pushes; returns the new commit."""
        work = self._work / name
        existing = _git("branch", "--list", branch, cwd=work)
        _git("checkout", "--quiet", *([] if existing else ["-b"]), branch, cwd=work)
        for relative, content in files.items():
            path = work / relative
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Symlink):
                path.symlink_to(content.target)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        _git("add", "--all", cwd=work)
        _git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
        _git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work)

    def tag(self, name: str, tag: str, *, annotated: bool = True) -> str:
        """Tags the work tree's HEAD and pushes the tag; returns the tagged commit."""
        work = self._work / name
        _git("tag", "--force", *(["-a", "-m", tag] if annotated else []), tag, cwd=work)
        _git("push", "--quiet", "--force", "origin", f"refs/tags/{tag}", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work)

    def delete_repo(self, name: str) -> None:
        shutil.rmtree(self.repos / f"{name}.git")

    # --- HTTP auth -----------------------------------------------------------------------------
    def authorized(self, repo_name: str, authorization: str | None) -> bool:
        tokens = self.private.get(repo_name)
        if tokens is None:
            return True
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        except ValueError:
            return False
        _, _, password = decoded.partition(":")
        return password in tokens


def _handler_for(server: GitServer) -> type[BaseHTTPRequestHandler]:
    class GitHttpBackendHandler(BaseHTTPRequestHandler):
        """Runs `git http-backend` as a CGI program for each request (smart HTTP, protocol v2)."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            authorization = self.headers.get("Authorization")
            server.http_requests.append((path, authorization))
            body = self._read_body()
            repo_name = path.lstrip("/").split(".git", 1)[0]
            if not server.authorized(repo_name, authorization):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            env = {
                **os.environ,
                **_GIT_ENV,
                "GIT_PROJECT_ROOT": str(server.repos),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": self.client_address[0],
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            result = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60, check=False
            )
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return GitHttpBackendHandler


class SilentServer:
    """Accepts TCP connections on loopback and never answers: a stalled git host."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="silent-server", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        for conn in self._held:
            conn.close()


@contextlib.contextmanager
def running_git_server(root: Path, host: str = "127.0.0.1") -> Iterator[GitServer]:
    server = GitServer(root, host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
