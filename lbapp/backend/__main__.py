import sys

from lbapp.backend.main import main

sys.exit(main())
