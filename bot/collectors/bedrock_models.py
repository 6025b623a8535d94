"""Naming Bedrock's billed lines by model id, as CloudWatch and apps' events do.

Cost Explorer names a model by its marketplace service ("Claude Sonnet 4.5") or a short token
in the usage type ("NovaPro"); ListFoundationModels gives each model id its display name
("anthropic.claude-sonnet-4-5-20250929-v1:0" is "Claude Sonnet 4.5"). Names are compared
without case, spaces or punctuation. Where several ids share a name, the base one wins (no
context-window suffix such as ":200k"), then the shortest. That Cost Explorer's names match
these display names is UNVERIFIED; a name with no match is kept as it is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.collectors.bedrock_parse import PROVIDER
from bot.collectors.payloads import validated
from bot.domain import CostLine

_BASE_ID = re.compile(r":[0-9]+$")  # "...-v1:0", not "...-v1:0:200k"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Summary(_Shape):
    modelId: str
    modelName: str = ""


class _Models(_Shape):
    modelSummaries: list[_Summary] = []


def comparable(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_foundation_models(payload: dict[str, Any]) -> dict[str, str]:
    """ListFoundationModels as comparable display name -> model id."""
    models = validated(_Models, payload, provider=PROVIDER, what="ListFoundationModels")
    ids: dict[str, list[str]] = {}
    for summary in models.modelSummaries:
        if summary.modelName:
            ids.setdefault(comparable(summary.modelName), []).append(summary.modelId)
    return {name: min(found, key=_preference) for name, found in ids.items()}


def _preference(model_id: str) -> tuple[bool, int, str]:
    return (_BASE_ID.search(model_id) is None, len(model_id), model_id)


def named_by_id(lines: Iterable[CostLine], ids: dict[str, str]) -> list[CostLine]:
    """The lines with each model name that has an id replaced by that id."""
    return [
        dataclasses.replace(line, model=ids.get(comparable(line.model), line.model))
        if line.model
        else line
        for line in lines
    ]
