"""Print the per-case table of a hostile-corpus run: ``python tests/hostile/report.py FILE``,
FILE being the JSON lines ``tests/test_hostile_corpus.py`` writes to ``$LAYERSCAN_HOSTILE_REPORT``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(lines: list[dict]) -> str:
    rows = ["| case | exit | wall s | peak RSS MiB |", "| --- | ---: | ---: | ---: |"]
    rows += [f"| {r['name']} | {r['exit_code']} | {r['wall_s']:.2f} | {r['peak_rss_mib']:.0f} |"
             for r in sorted(lines, key=lambda r: r["name"])]
    if lines:
        worst = max(lines, key=lambda r: r["peak_rss_mib"])
        rows.append(f"\n{len(lines)} cases; highest peak RSS {worst['peak_rss_mib']:.0f} MiB ({worst['name']}); "
                    f"longest {max(r['wall_s'] for r in lines):.1f} s")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    if not path.exists():
        print(f"no hostile-corpus report at {path}")
        return 0
    print(table([json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
