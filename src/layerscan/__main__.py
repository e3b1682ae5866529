"""``python -m layerscan ...``: the same as the ``layerscan`` command."""

import sys

from layerscan.cli.main import main

sys.exit(main())
