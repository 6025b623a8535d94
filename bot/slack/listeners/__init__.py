"""The Bolt listeners of the Slack app, one module per Slack surface: `commands` (/aispend),
`actions` (Share to channel and the incident root's buttons), `home` (the App Home tab).

Handlers are plain functions. Each takes the `AppContext` first, then the Bolt arguments it
needs by name (`ack`, `respond`, `command`, `action`, `body`, `event`); `bot.slack.app`
binds the context and registers them from its one listener table. What an answer shows is
read from the store by `gather` and drawn by the pure builders in `bot.slack.answers`,
`bot.slack.incidents` and `bot.slack.home`.
"""
