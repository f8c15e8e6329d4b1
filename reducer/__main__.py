"""`python -m reducer --id reducer-0 ...`: run one reducer process."""
from reducer.reducer import main
from wordcount.procs import exit_now

exit_now(main())  # no interpreter teardown: the coordinator waits for our exit
