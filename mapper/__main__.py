"""`python -m mapper --id mapper-0 ...`: run one mapper process."""
from mapper.mapper import main
from wordcount.procs import exit_now

exit_now(main())  # no interpreter teardown: the coordinator waits for our exit
