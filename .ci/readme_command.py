"""Print the shell command of a README section, so CI runs exactly what users read.

Usage: python3 .ci/readme_command.py "Install and run"   -> the first ```sh block under that heading.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def section_command(readme: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if match is None:
        raise SystemExit(f"README.md has no '## {heading}' section")
    block = re.search(r"```sh\n(.*?)```", match.group(1), re.S)
    if block is None:
        raise SystemExit(f"README.md section '{heading}' has no ```sh block")
    return block.group(1).strip()


if __name__ == "__main__":
    readme_path = Path(__file__).resolve().parent.parent / "README.md"
    print(section_command(readme_path.read_text(encoding="utf-8"), sys.argv[1]))
