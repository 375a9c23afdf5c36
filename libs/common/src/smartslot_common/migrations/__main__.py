import sys

from smartslot_common.migrations.cli import main

sys.exit(main())
