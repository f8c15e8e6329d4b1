"""`python -m mapper --id mapper-0 ...`: run one mapper process."""
import sys

from mapper.mapper import main

sys.exit(main())
