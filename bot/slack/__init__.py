"""The Slack face of aispend: the /aispend command grammar, replies and alerts."""
