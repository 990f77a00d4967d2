"""The one timestamp format editlab writes (sessions, batch manifests): UTC, milliseconds, `Z`."""

from __future__ import annotations

from datetime import datetime, timezone


def now_iso() -> str:
    """e.g. "2026-12-04T21:28:53.123Z"."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
