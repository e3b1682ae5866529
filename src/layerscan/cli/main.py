"""Entry point: `layerscan COMMAND ...` (placeholder until the commands land)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from layerscan import __version__

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "version"):
        print(f"layerscan {__version__}")
        return 0
    print("usage: layerscan {image,rootfs,fs,sbom,db} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
