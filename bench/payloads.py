"""The alerts the bench sends, and what it needs to know about the registry it imported."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertnet.domain.alert_request import example_alert_request

LOCKDOWN: dict[str, Any] = example_alert_request()

# What the weekly digest will send; here it goes through AlertService.submit_alert with Priority.BULK.
DIGEST_SMS = (
    "School Safety weekly update: new drill calendar and updated reunification guide. Details by email."
)


def critical_alert(district: str) -> dict[str, Any]:
    """An Extreme/Immediate SMS alert to one school district's officials (a few to a few dozen)."""
    return {**LOCKDOWN, "audience": {"districts": [district]}, "channels": ["sms"]}


@dataclass(frozen=True)
class Registry:
    """Mobiles of the imported officials, and of each district's officials."""

    mobiles: list[str]
    district_mobiles: dict[str, list[str]]
    regions: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Registry:
        mobiles: list[str] = []
        districts: dict[str, list[str]] = defaultdict(list)
        regions: set[str] = set()
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                regions.add(row["region"])
                if row["mobile"]:
                    mobiles.append(row["mobile"])
                    districts[row["district"]].append(row["mobile"])
        return cls(mobiles, dict(districts), tuple(sorted(regions)))

    def districts(self, count: int) -> list[str]:
        """`count` districts spread over the registry."""
        names = sorted(self.district_mobiles)
        step = max(1, len(names) // max(1, count))
        return names[::step][:count]
