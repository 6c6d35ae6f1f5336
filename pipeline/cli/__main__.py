"""`python -m pipeline.cli`: the same as the `spotify-bulk` command."""

import sys

from pipeline.cli.main import main

sys.exit(main())
