"""`python -m bot` is the `aispend` command."""

from bot.cli import main

raise SystemExit(main())
