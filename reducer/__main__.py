"""`python -m reducer --id reducer-0 ...`: run one reducer process."""
import sys

from reducer.reducer import main

sys.exit(main())
