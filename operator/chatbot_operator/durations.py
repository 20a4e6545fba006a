"""The CRD's duration fields (`corpus.refreshInterval`, `appConfiguration.refreshInterval`).

One grammar for all of them: what the CRD admits (`^([0-9]+(s|m|h))+$`, e.g. 30s, 10m, 1h30m),
plus `ms` and `d`, which some callers (tests, settings) use.
"""

import re
from datetime import timedelta
from typing import Final

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: object, field: str = "") -> timedelta:
    """`30s`, `10m`, `1h`, `1h30m` as a timedelta; ValueError naming `field` otherwise."""
    compact = text.strip() if isinstance(text, str) else ""
    if not compact or _PART.sub("", compact):
        where = f"{field}: " if field else ""
        raise ValueError(f"{where}{text!r} is not a duration like 30s, 10m, 1h or 1h30m")
    return timedelta(
        seconds=sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(compact))
    )
