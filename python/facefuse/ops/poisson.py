"""poisson ops (placeholder until the family lands)."""
from __future__ import annotations

__all__: list[str] = []
