"""manifest.yml and the code stay in step: every command, action and event the app listens
for is declared, and nothing is declared that nobody listens for; the bot scopes cover every
Slack Web API method the code calls, and each scope has a reason.

The project has no YAML library, so the manifest is read by `read_manifest`, a strict reader
of the block-style subset it is written in: it refuses anything else rather than guess."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.slack import ids
from bot.slack.app import LISTENERS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"

# Web API method -> the bot scope it needs (None: none). Sources: slack.md sections 2.1 and 3.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,  # Bolt, once at start-up
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.join": "channels:join",
    "conversations.info": "channels:read",
    "conversations.list": "channels:read",  # the notifier finds a channel id by name
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "views.publish": None,
}
# slack_sdk helpers that call several methods
HELPERS = {"files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
# scopes that no method needs but a feature does
FEATURE_SCOPES = {
    "commands": "the /aispend slash command",
    "chat:write.public": "posting to public channels the bot has not joined",
}
# in METHOD_SCOPES for their scope's sake, but not called by the code yet (digest channels
# and owners' time zones); the manifest asks for their scopes already
NOT_CALLED_YET = {"conversations.join", "conversations.info", "users.info"}
SLACK_FAMILIES = {"auth", "chat", "conversations", "files", "users", "views", "reactions", "pins"}
_CALL = re.compile(r"\bclient\.([a-z]+)_([A-Za-z0-9_]+)\(")
_API_CALL = re.compile(r"\bapi_call\(\s*\"([a-z]+\.[A-Za-z.]+)\"")


# -- the manifest's listeners ---------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return read_manifest(MANIFEST.read_text(encoding="utf-8"))


def _registered(kind: str) -> set[str]:
    return {listener.id for listener in LISTENERS if listener.kind == kind}


def test_the_declared_slash_commands_are_the_registered_ones(manifest):
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == _registered("command")
    for command in manifest["features"]["slash_commands"]:
        assert 1 <= len(command["description"]) <= 2000
        assert 1 <= len(command["usage_hint"]) <= 1000
        assert command["should_escape"] is False  # the grammar reads the text as typed


def test_the_subscribed_events_are_the_registered_ones(manifest):
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == _registered("event")


def test_interactivity_is_on_and_every_button_the_builders_draw_has_a_listener(manifest):
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert _registered("action") == {ids.SHARE_ANSWER, *ids.INCIDENT_ANSWERS, *ids.KEY_ACTIONS}


def test_the_home_tab_is_enabled_because_app_home_opened_publishes_it(manifest):
    app_home = manifest["features"]["app_home"]
    assert app_home["home_tab_enabled"] is ("app_home_opened" in _registered("event"))
    assert app_home["messages_tab_enabled"] is False


def test_each_listener_is_registered_once():
    keys = [(listener.kind, listener.id) for listener in LISTENERS]
    assert len(keys) == len(set(keys))


def test_socket_mode_is_on_and_no_request_url_is_set(manifest):
    """In Socket Mode Slack uses no URL; the comment in the file says how to switch."""
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["event_subscriptions"]
    assert "request_url" not in settings["interactivity"]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])


def test_display_fields_are_within_slack_limits(manifest):
    shown = manifest["display_information"]
    assert 1 <= len(shown["name"]) <= 35
    assert 1 <= len(shown["description"]) <= 140
    assert 1 <= len(manifest["features"]["bot_user"]["display_name"]) <= 80


# -- scopes ---------------------------------------------------------------------------------


def called_methods() -> dict[str, set[str]]:
    """Slack Web API methods called anywhere in bot/ (not the stand-in), and where."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if "standins" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        names = [
            f"{family}_{rest}" for family, rest in _CALL.findall(text) if family in SLACK_FAMILIES
        ]
        methods = [m for name in names for m in HELPERS.get(name, (name.replace("_", ".", 1),))]
        methods += _API_CALL.findall(text)
        for method in methods:
            found.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_web_api_method_the_code_calls_is_in_the_table():
    called = called_methods()
    assert {"chat.postMessage", "chat.update", "views.publish"} <= set(called)  # the scan works
    unknown = {m: where for m, where in called.items() if m not in METHOD_SCOPES}
    assert unknown == {}, "add these methods and their scopes to METHOD_SCOPES and manifest.yml"


def test_the_manifest_asks_for_every_scope_the_called_methods_need(manifest):
    asked = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {METHOD_SCOPES[m] for m in called_methods() if METHOD_SCOPES.get(m)}
    assert needed - asked == set()


def test_every_scope_the_manifest_asks_for_has_a_reason(manifest):
    asked = manifest["oauth_config"]["scopes"]["bot"]
    assert len(asked) == len(set(asked))
    reasons = {s for s in METHOD_SCOPES.values() if s} | set(FEATURE_SCOPES)
    assert set(asked) - reasons == set()
    assert "im:write" not in asked  # the bot opens no DMs: answers are ephemeral


def test_methods_not_called_yet_are_still_not_called():
    """When one of them is called, move it out of NOT_CALLED_YET; if its scope is never
    needed, drop the scope from the manifest."""
    assert NOT_CALLED_YET & set(called_methods()) == set()


# -- the YAML subset ------------------------------------------------------------------------


def read_manifest(text: str) -> dict[str, Any]:
    """Block-style YAML with mappings, sequences, plain or double-quoted scalars, booleans,
    integers and `#` comments; anything else (tabs, flow collections, anchors, multi-line
    scalars) is refused."""
    lines = _lines(text)
    value, end = _block(lines, 0, 0)
    if end != len(lines) or not isinstance(value, dict):
        raise ValueError(f"unexpected line: {lines[end][1] if end < len(lines) else '(end)'}")
    return value


def _lines(text: str) -> list[tuple[int, str]]:
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw:
            raise ValueError(f"line {number}: tab")
        content = _without_comment(raw).rstrip()
        if content.strip():
            found.append((len(content) - len(content.lstrip(" ")), content.strip()))
    return found


def _without_comment(line: str) -> str:
    quoted = False
    for i, char in enumerate(line):
        if char == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif char == "#" and not quoted and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][0] != indent:
        raise ValueError(f"bad indentation: {lines[i][1]}")
    if lines[i][1] == "-" or lines[i][1].startswith("- "):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        rest = lines[i][1][2:].strip()
        if _is_key(rest):  # a mapping that starts on the dash's line
            lines[i] = (indent + 2, rest)
            item, i = _mapping(lines, i, indent + 2)
        else:
            item, i = _scalar(rest), i + 1
        items.append(item)
    return items, i


def _mapping(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    found: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        if not _is_key(lines[i][1]):
            raise ValueError(f"expected key: value, got {lines[i][1]}")
        key, _, rest = lines[i][1].partition(":")
        if key in found:
            raise ValueError(f"duplicate key {key}")
        if rest.strip():
            found[key], i = _scalar(rest.strip()), i + 1
        elif i + 1 < len(lines) and lines[i + 1][0] > indent:
            found[key], i = _block(lines, i + 1, lines[i + 1][0])
        else:
            raise ValueError(f"{key} has no value")
    if i < len(lines) and lines[i][0] > indent:
        raise ValueError(f"bad indentation: {lines[i][1]}")
    return found, i


def _is_key(text: str) -> bool:
    return re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*:( |$)", text) is not None


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise ValueError(f"unterminated string: {text}")
        return json.loads(text)
    if text[0] in "[]{}&*!|>'%@`":
        raise ValueError(f"outside the subset: {text}")
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if ": " in text or text.endswith(":"):
        raise ValueError(f"a plain scalar with a colon: {text}")
    return text


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("a: [1, 2]", "outside the subset"),
        ("a:\n\tb: 1", "tab"),
        ("a: 1\na: 2", "duplicate key"),
        ("a:\n  - x\n   - y", "bad indentation"),
        ("a: &anchor 1", "outside the subset"),
        ("a: |\n  text", "outside the subset"),
        ("a: b: c", "a plain scalar with a colon"),
        ('a: "open', "unterminated string"),
    ],
)
def test_the_reader_refuses_yaml_outside_its_subset(bad, why):
    with pytest.raises(ValueError, match=why):
        read_manifest(bad)


def test_the_reader_reads_its_subset():
    text = (
        'a:\n  b: "x # not a comment"  # a comment\n'
        "  c:\n    - 1\n    - d: true\n      e: plain words\n"
    )
    assert read_manifest(text) == {
        "a": {"b": "x # not a comment", "c": [1, {"d": True, "e": "plain words"}]}
    }
