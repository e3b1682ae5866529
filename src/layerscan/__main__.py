"""``python -m layerscan ...``: the same as the ``layerscan`` command."""

import sys

from layerscan.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
