"""Parse request-level usage events from JSON lines, CSV and OTLP/JSON into UsageEvents."""
