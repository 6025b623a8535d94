"""`aispend run`: the long-running service (HTTP endpoints, Socket Mode, the scheduler
under a leader lease, logs and metrics)."""
