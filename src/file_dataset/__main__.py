"""``python -m file_dataset``: the same as the ``file-dataset`` command."""

import sys

from file_dataset.cli import main

sys.exit(main())
