import sys

from lbapp.agent.main import main

sys.exit(main())
