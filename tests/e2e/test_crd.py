"""The CRD itself on a real API server: accepted as it is, with nothing silently dropped."""

from __future__ import annotations

from tests.e2e.cluster import CRD_FILE, Cluster


def test_crd_is_accepted_by_the_api_server_without_unknown_fields(cluster: Cluster) -> None:
    # A server-side dry run validates the whole CRD (structural schema, CEL rules) and warns
    # about every field it does not know: in a schema, such a field is usually a description
    # cut short by YAML (a ", " or ": " inside an unquoted flow-style value).
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(CRD_FILE), check=False)
    assert result.returncode == 0, result.stderr
    unknown = [line for line in result.stderr.splitlines() if "unknown field" in line]
    assert not unknown, "\n".join(unknown)
