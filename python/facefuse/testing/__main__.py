"""``python -m facefuse.testing DIR [NAMES...]``: write the stand-in models into DIR."""
from __future__ import annotations

import sys

from . import builders, write_models


def main(argv: "list[str] | None" = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip() + "\nmodels: " + " ".join(sorted(builders())))
        return 0 if args else 2
    try:
        for key, path in write_models(args[0], args[1:] or None).items():
            print(f"{key:28s} {path}")
        print("stand-ins are refused unless FACEFUSE_ALLOW_STAND_INS=1 is set (they are not real models)")
    except ValueError as e:
        print(f"python -m facefuse.testing: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
