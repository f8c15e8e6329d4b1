"""Lab 1 only (the batch MapReduce job): the client's view of the job in Redis
and its supervision of workers and Redis. The worker itself is worker.py."""
