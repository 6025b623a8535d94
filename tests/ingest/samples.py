"""Input samples shared by the ingest tests."""

from __future__ import annotations

# providers.md section 7.4, verbatim
SECTION_7_4 = """
{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "support-bot"}}]},
    "scopeSpans": [{
      "scope": {"name": "opentelemetry.instrumentation.anthropic"},
      "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat claude-sonnet-4-5",
        "kind": 3,
        "startTimeUnixNano": "1754820000000000000",
        "endTimeUnixNano": "1754820002150000000",
        "attributes": [
          {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
          {"key": "gen_ai.provider.name", "value": {"stringValue": "anthropic"}},
          {"key": "gen_ai.request.model", "value": {"stringValue": "claude-sonnet-4-5"}},
          {"key": "gen_ai.response.model", "value": {"stringValue": "claude-sonnet-4-5-20250929"}},
          {"key": "gen_ai.response.id", "value": {"stringValue": "msg_01Q…"}},
          {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12840"}},
          {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "11900"}},
          {"key": "gen_ai.usage.cache_creation.input_tokens", "value": {"intValue": "0"}},
          {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "412"}}
        ]
      }]
    }]
  }]
}
"""
