"""Slack's Block Kit limits (slack.md section 4.1), as data and one checker.

The message builders truncate to stay inside them; the Slack stand-in refuses what breaks
them, with Slack's error shape, the way Slack does. slack_sdk checks only some of these, and
never for plain dict blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

BLOCKS_PER_MESSAGE = 50
BLOCKS_PER_VIEW = 100  # modal or Home tab
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BLOCK_ID = 255
BUTTON_TEXT = 75
ACTION_ID = 255
BUTTON_VALUE = 2000
BUTTON_URL = 3000
IMAGE_URL = 3000
ALT_TEXT = 2000
TABLE_ROWS = 100
TABLE_CELLS = 20
MARKDOWN_TOTAL = 12_000  # across markdown blocks of one message
MESSAGE_TEXT = 40_000  # chat.postMessage truncates past this; chat.update refuses past 4,000
UPDATE_TEXT = 4000
VIEW_TITLE = 24


def block_problems(blocks: Sequence[Mapping[str, Any]], *, view: bool = False) -> list[str]:
    """Every limit the blocks break, each as Slack words it with a json-pointer, e.g.
    "no more than 50 items allowed [json-pointer:/blocks]". Empty when they are fine."""
    problems: list[str] = []
    most = BLOCKS_PER_VIEW if view else BLOCKS_PER_MESSAGE
    if len(blocks) > most:
        problems.append(f"no more than {most} items allowed [json-pointer:/blocks]")
    ids = [b.get("block_id") for b in blocks if b.get("block_id") is not None]
    if len(ids) != len(set(ids)):
        problems.append("block_id must be unique [json-pointer:/blocks]")
    markdown = 0
    tables = 0
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        problems += _block(block, where)
        if block.get("type") == "markdown":
            markdown += len(str(block.get("text", "")))
        tables += block.get("type") == "table"
    if markdown > MARKDOWN_TOTAL:
        problems.append(
            f"markdown blocks exceed {MARKDOWN_TOTAL} characters [json-pointer:/blocks]"
        )
    if tables > 1:
        problems.append("only one table block is allowed per message [json-pointer:/blocks]")
    return problems


def _block(block: Mapping[str, Any], where: str) -> list[str]:
    kind = block.get("type")
    found = _too_long(block.get("block_id"), BLOCK_ID, f"{where}/block_id")
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            found.append(f"must provide either text or fields [json-pointer:{where}]")
        found += _too_long(_text(text), SECTION_TEXT, f"{where}/text")
        if fields is not None:
            if len(fields) > SECTION_FIELDS:
                found.append(
                    f"no more than {SECTION_FIELDS} items allowed [json-pointer:{where}/fields]"
                )
            for j, field in enumerate(fields):
                found += _too_long(_text(field), FIELD_TEXT, f"{where}/fields/{j}")
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            found += _element(accessory, f"{where}/accessory")
    elif kind == "header":
        text = block.get("text")
        if not isinstance(text, Mapping) or text.get("type") != "plain_text":
            found.append(f"must be a plain_text object [json-pointer:{where}/text]")
        found += _too_long(_text(text), HEADER_TEXT, f"{where}/text")
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > CONTEXT_ELEMENTS:
            found.append(f"must hold 1 to {CONTEXT_ELEMENTS} items [json-pointer:{where}/elements]")
    elif kind == "actions":
        elements = block.get("elements", [])
        if not elements or len(elements) > ACTIONS_ELEMENTS:
            found.append(f"must hold 1 to {ACTIONS_ELEMENTS} items [json-pointer:{where}/elements]")
        action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
        if len(action_ids) != len(set(action_ids)):
            found.append(f"action_id must be unique in the block [json-pointer:{where}/elements]")
        for j, element in enumerate(elements):
            found += _element(element, f"{where}/elements/{j}")
    elif kind == "image":
        found += _too_long(block.get("image_url"), IMAGE_URL, f"{where}/image_url")
        found += _too_long(block.get("alt_text"), ALT_TEXT, f"{where}/alt_text")
    elif kind == "table":
        rows = block.get("rows", [])
        if not rows or len(rows) > TABLE_ROWS:
            found.append(f"must hold 1 to {TABLE_ROWS} rows [json-pointer:{where}/rows]")
        if any(len(row) > TABLE_CELLS for row in rows):
            found.append(f"no more than {TABLE_CELLS} cells per row [json-pointer:{where}/rows]")
    elif kind not in ("divider", "markdown", "rich_text", "file", "input"):
        found.append(f"unknown block type {kind!r} [json-pointer:{where}/type]")
    return found


def _element(element: Mapping[str, Any], where: str) -> list[str]:
    if element.get("type") != "button":
        return []
    found = _too_long(_text(element.get("text")), BUTTON_TEXT, f"{where}/text")
    found += _too_long(element.get("action_id"), ACTION_ID, f"{where}/action_id")
    found += _too_long(element.get("value"), BUTTON_VALUE, f"{where}/value")
    found += _too_long(element.get("url"), BUTTON_URL, f"{where}/url")
    if element.get("style") not in (None, "primary", "danger"):
        found.append(f"style must be primary or danger [json-pointer:{where}/style]")
    return found


def _text(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value.get("text", ""))
    return None if value is None else str(value)


def _too_long(value: Any, most: int, where: str) -> list[str]:
    if value is None or len(str(value)) <= most:
        return []
    return [f"must be less than {most + 1} characters [json-pointer:{where}]"]
