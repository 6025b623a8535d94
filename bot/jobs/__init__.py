"""What the scheduler runs: the places where collectors, the store and (later) Slack meet."""
