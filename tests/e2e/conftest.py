"""Fixtures of the end-to-end tier: a real control plane, the chart, the operator process.

- `cluster` (session): `hack/cluster.sh up` in a private CLUSTER_DIR, `down` at the end; or, with
  E2E_KUBECONFIG set, that existing cluster (kind, minikube, AKS...), left as it is.
- `namespace` (function): a fresh namespace per test, deleted afterwards.
- `operator` (module): the operator process, run as the chart runs it (operator_process.py), with
  the ServiceAccount and environment of `release` (the session's `operator_release` unless a
  module defines `release`) plus the module's `operator_env`.
- `bots` (function): the test's namespace, with the operator running; afterwards no RBAC refusal
  may be in the operator's log.
- On a failed test the component logs (and the operator's log) are printed in its report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from tests.e2e.cluster import (
    CRD_NAME,
    EXAMPLE_FILE,
    HACK_DIR,
    REPO_ROOT,
    RESTRICTED_LABELS,
    Cluster,
    CorpusRepo,
    build_tools,
    failed_test,
    unique_name,
)
from tests.e2e.operator_process import (
    LocalOperator,
    Release,
    print_operator_log_on_failure,
    running_operator,
)
from tests.e2e.secret_scan import recording
from tests.support.gitserver import running_git_server

E2E_DIR = Path(__file__).parent
SECRET_SCAN_TEST_FILE = "test_secret_scan.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
    # The secret scan searches what every other test produced: it runs last.
    items.sort(key=lambda item: Path(str(item.fspath)).name == SECRET_SCAN_TEST_FILE)


def pytest_collection_finish(session: pytest.Session) -> None:
    # A cold build of the control plane takes about 25 minutes: do it before the first test, where
    # no per-test timeout applies (`make test-e2e` has already done it in `make tools`). Only for
    # tests on a cluster: the chart's own tests need helm alone (test_chart.py).
    if any(
        Path(str(item.fspath)).is_relative_to(E2E_DIR) and "cluster" in getattr(item, "fixturenames", ())
        for item in session.items
    ):
        build_tools()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    # Remembered per phase so that fixtures can tell, at teardown, whether their test failed.
    report = yield
    setattr(item, f"report_{call.when}", report)
    return report


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bin_dir = build_tools()
    if existing := os.environ.get("E2E_KUBECONFIG"):
        workdir = tmp_path_factory.mktemp("existing-cluster")
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_bytes(Path(existing).expanduser().read_bytes())
        existing_cluster = Cluster(kubeconfig=kubeconfig, bin_dir=bin_dir)
        with recording(existing_cluster, workdir / "recorded"):
            yield existing_cluster
        return

    cluster_dir = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "CLUSTER_DIR": str(cluster_dir)}
    up = subprocess.run(
        [str(HACK_DIR / "cluster.sh"), "up"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    try:
        if up.returncode != 0:
            raise RuntimeError(f"hack/cluster.sh up failed:\n{up.stderr[-8000:]}")
        local_cluster = Cluster(
            kubeconfig=cluster_dir / "kubeconfig", bin_dir=bin_dir, cluster_dir=cluster_dir
        )
        with recording(local_cluster, cluster_dir / "recorded"):
            yield local_cluster
    finally:
        down = subprocess.run(
            [str(HACK_DIR / "cluster.sh"), "down"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if down.returncode != 0:
            print(f"hack/cluster.sh down failed:\n{down.stderr}", file=sys.stderr)


@pytest.fixture(autouse=True)
def control_plane_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test that used the cluster gets the tails of the components' logs in its report."""
    yield
    if "cluster" in request.fixturenames and failed_test(request):
        cluster: Cluster = request.getfixturevalue("cluster")
        print(f"===== control plane logs (test {request.node.nodeid} failed) =====", file=sys.stderr)
        print(cluster.component_logs(), file=sys.stderr)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (without waiting for it to go)."""
    name = unique_name(f"e2e-{request.node.name[5:30].lower().replace('_', '-').strip('-')}")
    cluster.kubectl("create", "namespace", name)
    yield name
    if failed_test(request):
        for what in (
            ("get", "all,chatbots", "-o", "wide"),
            ("get", "chatbots", "-o", "yaml"),
            ("get", "events", "--sort-by=.lastTimestamp"),
        ):
            shown = cluster.kubectl(*what, "-n", name, check=False)
            print(
                f"===== kubectl {' '.join(what)} -n {name} =====\n{shown.stdout}{shown.stderr}",
                file=sys.stderr,
            )
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def operator_release(cluster: Cluster) -> Iterator[Release]:
    """The chart, installed once (cluster-wide mode) into a namespace that enforces the
    `restricted` Pod Security level, so its pod must be admitted under it."""
    namespace = unique_name("chatbot-operator")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, *RESTRICTED_LABELS)
    crd_existed = cluster.try_get("crd", CRD_NAME) is not None
    release = Release(cluster=cluster, name=unique_name("e2e"), namespace=namespace)
    release.install()
    yield release
    cluster.helm("uninstall", release.name, "-n", namespace, "--wait", check=False)
    if not crd_existed:
        # Kept by the chart's policy on uninstall; removed here so an existing cluster is left as found.
        cluster.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=false", check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def release(operator_release: Release) -> Release:
    """The chart release the module's `operator` runs with; a module may install its own under this name."""
    return operator_release


@pytest.fixture(scope="module")
def operator_env() -> Mapping[str, str]:
    """Operator settings on top of the chart's, for the module's `operator`; a module may override it."""
    return {}


@pytest.fixture(scope="module")
def operator(
    release: Release,
    operator_env: Mapping[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[LocalOperator]:
    workdir = tmp_path_factory.mktemp(f"operator-{request.module.__name__.rsplit('.', 1)[-1]}")
    with running_operator(release, workdir, operator_env) as process:
        yield process


@pytest.fixture(autouse=True)
def operator_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test that used the operator gets the tail of its log in its report."""
    # Taken before the test: a module's own per-test `operator` (the chaos test's) is torn down
    # before this autouse fixture, and could not be asked for afterwards.
    operator = request.getfixturevalue("operator") if "operator" in request.fixturenames else None
    yield
    if operator is not None and failed_test(request):
        print_operator_log_on_failure(request, operator)


@pytest.fixture
def bots(namespace: str, operator: LocalOperator) -> Iterator[str]:
    """The test's namespace, with the operator running in it; afterwards the chart's RBAC must not
    have refused the operator anything."""
    operator.assert_running()
    since = operator.log_offset()
    yield namespace
    denials = operator.rbac_denials(since)
    assert not denials, "the chart's RBAC refused the operator:\n" + "\n".join(denials)


@pytest.fixture(scope="session")
def corpus_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRepo]:
    with running_git_server(tmp_path_factory.mktemp("git")) as server:
        # The example serves this repository's own docs (its spec.corpus.paths); its golden
        # questions are asked of them in real pods, so the stand-in holds the same files.
        example_paths = yaml.safe_load(EXAMPLE_FILE.read_text())["spec"]["corpus"]["paths"]
        files = {
            str(path.relative_to(REPO_ROOT)): path.read_text()
            for pattern in example_paths
            for path in REPO_ROOT.glob(pattern)
        }
        files.setdefault("docs/install.md", "# Install\nRun `helm install chatbot-operator ./chart`.\n")
        commit = server.create_repo("docs", files)
        yield CorpusRepo(url=server.http_url("docs"), commit=commit)
