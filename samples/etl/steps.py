"""Steps of the ETL sample. Arguments are bound by name from parameters and upstream returns."""

from __future__ import annotations

import json
from pathlib import Path


def extract(date: str, shards: list[str]) -> tuple[int, list[str]]:
    """Pretend to read the day's rows; keep the shards, tagged with the date."""
    tagged = [f"{date}/{shard}" for shard in shards]
    Path("extract.json").write_text(json.dumps({"date": date, "shards": tagged}))
    print(f"extracted {len(tagged)} shards for {date}")
    return 100 * len(tagged), tagged


def load(shard: str, rows: int) -> int:
    """Load one shard: its share of the rows plus the shard's letter (a=0, b=1, ...), so items differ."""
    return rows // 10 + ord(shard[-1]) - ord("a")
