"""Attribution rules: provider-side ids (project, api key, label) to team, feature and owner.

The most specific rule wins: an api key rule beats a label rule beats a project rule (a GCP
label marks a request, a project is often shared by teams), and a rule naming the provider
beats one that does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert

from bot.config import AttributionConfig
from bot.providers import resolve_provider
from bot.store.models import AttributionRule


@dataclass(frozen=True, slots=True)
class Owner:
    team: str = ""
    feature: str = ""
    owner: str = ""


NOBODY = Owner()


@dataclass(frozen=True, slots=True)
class Attribution:
    """Pure lookup over a fixed set of rules."""

    by_key: dict[tuple[str, str, str], Owner]

    @classmethod
    def from_rules(cls, rules: Sequence[AttributionConfig]) -> Attribution:
        by_key: dict[tuple[str, str, str], Owner] = {}
        for rule in rules:
            provider = resolve_provider(rule.provider) or "" if rule.provider else ""
            owner = Owner(rule.team, rule.feature, rule.owner)
            for kind, value in (
                ("api_key", rule.api_key),
                ("project", rule.project),
                ("label", rule.label),
            ):
                if value:
                    by_key[(provider, kind, value)] = owner
        return cls(by_key)

    def resolve(self, provider: str, project: str, api_key: str, label: str = "") -> Owner:
        """A label is "key=value" (a GCP label); a rule may name it whole or by its value."""
        labels = (("label", label), ("label", label.partition("=")[2]))
        for kind, value in (("api_key", api_key), *labels, ("project", project)):
            if not value:
                continue
            for scope in (provider, ""):
                found = self.by_key.get((scope, kind, value))
                if found is not None:
                    return found
        return NOBODY


def sync_rules(connection: Connection, rules: Sequence[AttributionConfig]) -> None:
    """Make the attribution_rule table say exactly what aispend.toml says."""
    connection.execute(delete(AttributionRule))
    rows = [rule.model_dump() for rule in rules]
    for row in rows:
        row["provider"] = resolve_provider(row["provider"]) or "" if row["provider"] else ""
    if rows:
        connection.execute(insert(AttributionRule), rows)
