import sys

from omnivox.cli import main

sys.exit(main())
