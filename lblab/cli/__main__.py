import sys

from lblab.cli import main

sys.exit(main())
