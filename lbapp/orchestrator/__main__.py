import sys

from lbapp.orchestrator.main import main

sys.exit(main())
