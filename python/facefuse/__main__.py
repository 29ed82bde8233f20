"""``python -m facefuse``: the facefuse command line (same as the ``facefuse`` script)."""
from __future__ import annotations

from .cli import main

raise SystemExit(main())
