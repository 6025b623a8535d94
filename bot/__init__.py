"""aispend: team AI spend reporting and alerts for Slack."""
