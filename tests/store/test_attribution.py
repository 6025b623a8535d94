"""Attribution rules: which rule owns a line, labels included."""

from __future__ import annotations

import pytest

from bot.config import AttributionConfig
from bot.store.attribution import NOBODY, Attribution

RULES = Attribution.from_rules(
    (
        AttributionConfig(project="acme-ai-prod", team="platform"),
        AttributionConfig(label="team=growth", team="growth"),
        AttributionConfig(label="research", team="research"),
        AttributionConfig(api_key="key_ops", team="ops"),
        AttributionConfig(provider="google", label="team=data", team="data"),
    )
)


@pytest.mark.parametrize(
    ("provider", "project", "api_key", "label", "team"),
    [
        ("google", "acme-ai-prod", "", "", "platform"),  # the project alone
        ("google", "acme-ai-prod", "", "team=growth", "growth"),  # a label beats the project
        ("google", "acme-ai-prod", "", "team=research", "research"),  # matched by its value
        ("google", "acme-ai-prod", "key_ops", "team=growth", "ops"),  # a key beats a label
        ("google", "", "", "team=data", "data"),  # a rule naming the provider
        ("openai", "", "", "team=data", ""),  # ... only for that provider
        ("google", "other", "", "team=unknown", ""),
    ],
)
def test_the_most_specific_rule_owns_the_line(provider, project, api_key, label, team):
    owner = RULES.resolve(provider, project, api_key, label)
    assert owner.team == team
    if not team:
        assert owner == NOBODY
