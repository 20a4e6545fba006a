"""Decide whether a child must be applied: is every field we want already in place?

The API server adds defaults (imagePullPolicy, protocol, terminationMessagePath, ...) and other
managers add their own fields (an HPA's replicas, a user's annotations), so the test is "desired is
contained in actual", not equality. Together with the applied-hash annotation (part of the desired
manifest), this also notices fields we stopped setting.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity


def quantity_value(value: str | int) -> Decimal | None:
    """A Kubernetes quantity's value ("500m" -> 0.5, "1Gi" -> 1073741824), or None if it is not one."""
    try:
        parsed: Decimal = parse_quantity(value)
    except ValueError:
        return None
    return parsed if parsed.is_finite() else None


def _scalars_equal(desired: Any, actual: Any) -> bool:
    if desired == actual:
        return True
    # The API server canonicalises quantities ("1000m" comes back as "1").
    if isinstance(desired, str | int) and isinstance(actual, str | int):
        left, right = quantity_value(desired), quantity_value(actual)
        return left is not None and left == right
    return False


def _is_empty(value: Any) -> bool:
    # The API server drops empty lists and maps, so their absence is not a difference.
    return value is None or value == [] or value == {}


def is_contained(desired: Any, actual: Any) -> bool:
    """Whether every field of `desired` is present in `actual` with an equal value."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(
            is_contained(value, actual[key]) if key in actual else _is_empty(value)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return False
        return all(is_contained(d, a) for d, a in zip(desired, actual, strict=True))
    return _scalars_equal(desired, actual)


def needs_apply(desired: Mapping[str, Any], actual: Mapping[str, Any] | None) -> bool:
    return actual is None or not is_contained(desired, actual)
