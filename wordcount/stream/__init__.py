"""Lab 2 only (the streaming job): the client-side launcher, the job spec it
hands the coordinator, checkpoint files, and the runtime mappers and reducers
share. The coordinator process itself is coordinator/."""
