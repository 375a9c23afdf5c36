import sys

from gateway.openapi.generate import main

sys.exit(main())
