import sys

from lbapp.lbserver.main import main

sys.exit(main())
