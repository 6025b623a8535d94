"""Slack messages drawn in a terminal: what `aispend demo` shows of the Slack stand-in.

Pure: a message as Slack's JSON has it in, a rich renderable out. A message is a mapping
with `text` and `blocks` (a chat.postMessage payload, a response URL body, a golden file),
plus what Slack adds once it is posted (`user`, `bot_id`, `ts`, `edited`, `files` as file
objects, `subtype` "thread_broadcast"); `response_type` "ephemeral" marks an answer only the
asker sees. Each message is a box titled with its author and time; thread replies are
indented under their root.

What is drawn: header, section (text, two-column fields, a button or image accessory),
context, divider, actions (each button as `[Label]`), image, file and rich_text blocks, and
the message's files; any other block by its type. mrkdwn is read as Slack reads it: *bold*,
_italic_, ~strike~, `code` and ``` blocks; <@U123> and <#C123> become @name and #name through
`names`; <!date^...|fallback> its fallback; <url|label> the label (a link where the terminal
supports them); &amp; &lt; &gt; their characters; known :emoji: their characters. Without
blocks the message's text is drawn.

`plain` renders to uncoloured text at a fixed width, for tests and logs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.constrain import Constrain
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text

WIDTH = 100  # columns of a message box at most; narrower terminals get narrower boxes
THREAD_INDENT = 4

BOLD, ITALIC, STRIKE = Style(bold=True), Style(italic=True), Style(strike=True)
CODE = Style(color="cyan")
MENTION = Style(color="blue", bold=True)
DIM = Style(dim=True)
_EMPHASIS = {"*": BOLD, "_": ITALIC, "~": STRIKE}
_BUTTON = {"primary": Style(color="green", bold=True), "danger": Style(color="red", bold=True)}

EMOJI: Mapping[str, str] = {
    "arrow_double_up": "\N{BLACK UP-POINTING DOUBLE TRIANGLE}",
    "arrows_counterclockwise": "\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS}",
    "calendar": "\N{CALENDAR}",
    "eyes": "\N{EYES}",
    "grey_question": "\N{WHITE QUESTION MARK ORNAMENT}",
    "heavy_minus_sign": "\N{HEAVY MINUS SIGN}",
    "hourglass": "\N{HOURGLASS}",
    "large_blue_circle": "\N{LARGE BLUE CIRCLE}",
    "large_orange_circle": "\N{LARGE ORANGE CIRCLE}",
    "mag": "\N{LEFT-POINTING MAGNIFYING GLASS}",
    "octagonal_sign": "\N{OCTAGONAL SIGN}",
    "red_circle": "\N{LARGE RED CIRCLE}",
    "rotating_light": "\N{POLICE CARS REVOLVING LIGHT}",
    "warning": "\N{WARNING SIGN}",
    "white_check_mark": "\N{WHITE HEAVY CHECK MARK}",
    "white_circle": "\N{MEDIUM WHITE CIRCLE}",
    "x": "\N{CROSS MARK}",
    "zzz": "\N{SLEEPING SYMBOL}",
    "chart_with_upwards_trend": "\N{CHART WITH UPWARDS TREND}",
    "moneybag": "\N{MONEY BAG}",
    "tada": "\N{PARTY POPPER}",
}
PAPERCLIP = "\N{PAPERCLIP}"
PICTURE = "\N{CAMERA}"  # of the pictures, one every terminal draws two columns wide

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_TOKEN = re.compile(r"`([^`\n]+)`|<([^<>\s][^<>\n]*)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_EMPHASIS_SPAN = re.compile(r"(?<![\w*_~])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~])")
_PLACEHOLDER = 0xE000  # private-use characters stand for code spans and <...> tokens
Names = Mapping[str, str]


# --- messages -------------------------------------------------------------------------------


def render_thread(
    root: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]] = (),
    *,
    names: Names | None = None,
    updated: int = 0,
    width: int = WIDTH,
) -> RenderableType:
    """A root message and its replies, oldest first, indented under it. `updated` is how
    many times the root was rewritten in place (chat.update, a response URL)."""
    shown: list[RenderableType] = [render_message(root, names=names, updated=updated, width=width)]
    if replies:
        count = f"{len(replies)} {'reply' if len(replies) == 1 else 'replies'}"
        under: list[RenderableType] = [
            Text(f"\N{BOX DRAWINGS LIGHT UP AND RIGHT} {count}", style=DIM)
        ]
        under += [render_message(r, names=names, width=width - THREAD_INDENT) for r in replies]
        shown.append(Padding(Group(*under), (0, 0, 0, THREAD_INDENT)))
    return Group(*shown)


def render_message(
    message: Mapping[str, Any],
    *,
    names: Names | None = None,
    updated: int = 0,
    width: int = WIDTH,
) -> RenderableType:
    """One message in a box titled with who posted it and when; edited, updated, ephemeral
    and broadcast messages say so under the box."""
    names = names or {}
    body = message_body(message, names)
    panel = Panel(
        Group(*body) if body else Text("(empty message)", style=DIM),
        title=_title(message, names),
        title_align="left",
        subtitle=_state(message, updated),
        subtitle_align="right",
        box=box.ROUNDED,
        padding=(0, 1),
    )
    return Constrain(panel, width)


def message_body(message: Mapping[str, Any], names: Names) -> list[RenderableType]:
    """The message's blocks (or its text when it has none) and its files, top to bottom."""
    blocks = message.get("blocks")
    found: list[RenderableType] = []
    if isinstance(blocks, list) and blocks:
        for block in blocks:
            if not isinstance(block, Mapping):
                continue
            drawn = render_block(block, names)
            if found and drawn and not _sticks(block):
                found.append(Text(""))
            found += drawn
    elif message.get("text"):
        found += flow(str(message["text"]), names)
    for file in message.get("files") or ():
        if isinstance(file, Mapping):
            found.append(_file_line(file))
    return found


def _sticks(block: Mapping[str, Any]) -> bool:
    """Context lines sit right under what they annotate, as in Slack."""
    return block.get("type") == "context"


def _title(message: Mapping[str, Any], names: Names) -> Text:
    user = str(message.get("user") or "")
    is_app = "bot_id" in message or not user
    author = names.get(user, "") if user else ""
    title = Text()
    title.append(author or ("aispend" if is_app else user), BOLD)
    if is_app:
        title.append(" APP", DIM)
    moment = _when(message.get("ts"))
    if moment is not None:
        title.append(f"  {moment:%H:%M} UTC", DIM)
    return title


def _state(message: Mapping[str, Any], updated: int) -> Text | None:
    said = []
    if message.get("response_type") == "ephemeral":
        said.append("only visible to you")
    if message.get("subtype") == "thread_broadcast":
        said.append("also sent to the channel")
    if message.get("edited"):
        said.append("edited")
    elif updated:
        said.append("updated" if updated == 1 else f"updated {updated} times")
    return Text(" · ".join(said), style=DIM) if said else None


def _when(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _file_line(file: Mapping[str, Any]) -> Text:
    line = Text(f"{PAPERCLIP} ")
    title = str(file.get("title") or file.get("name") or file.get("id") or "a file")
    line.append(title, BOLD)
    details = [str(file["name"])] if file.get("name") and file.get("name") != title else []
    size = file.get("size")
    if isinstance(size, int):
        details.append(_size(size))
    if details:
        line.append(f" ({', '.join(details)})", DIM)
    return line


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


# --- blocks ---------------------------------------------------------------------------------


def render_block(block: Mapping[str, Any], names: Names) -> list[RenderableType]:
    """One Block Kit block as terminal lines; a kind not drawn here is named."""
    draw = _BLOCKS.get(str(block.get("type")))
    if draw is None:
        return [Text(f"[{block.get('type', 'unknown')} block]", style=DIM)]
    return draw(block, names)


def _header(block: Mapping[str, Any], names: Names) -> list[RenderableType]:  # noqa: ARG001
    return [Text(_plain(block.get("text")), style=Style(bold=True, underline=True))]


def _section(block: Mapping[str, Any], names: Names) -> list[RenderableType]:
    found: list[RenderableType] = []
    text = block.get("text")
    if isinstance(text, Mapping):
        found += _text_object(text, names)
    cells = [c for c in block.get("fields") or () if isinstance(c, Mapping)]
    if cells:
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        for i in range(0, len(cells), 2):
            pair = [_cell(c, names) for c in cells[i : i + 2]]
            grid.add_row(*pair, *([Text("")] * (2 - len(pair))))
        if found:
            found.append(Text(""))
        found.append(grid)
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping):
        found.append(_element(accessory))
    return found


def _cell(cell: Mapping[str, Any], names: Names) -> Text:
    if cell.get("type") == "mrkdwn":
        return inline(str(cell.get("text") or ""), names)
    return Text(str(cell.get("text") or ""))


def _text_object(text: Mapping[str, Any], names: Names) -> list[RenderableType]:
    if text.get("type") == "mrkdwn":
        return flow(str(text.get("text") or ""), names)
    return [Text(str(text.get("text") or ""))]


def _context(block: Mapping[str, Any], names: Names) -> list[RenderableType]:
    line = Text(style=DIM)
    for element in block.get("elements") or ():
        if not isinstance(element, Mapping):
            continue
        if line:
            line.append("  ")
        if element.get("type") == "image":
            line.append(f"{PICTURE} {element.get('alt_text') or 'image'}")
        elif element.get("type") == "mrkdwn":
            line.append_text(inline(str(element.get("text") or ""), names))
        else:
            line.append(str(element.get("text") or ""))
    return [line]


def _divider(block: Mapping[str, Any], names: Names) -> list[RenderableType]:  # noqa: ARG001
    return [Rule(style=DIM)]


def _actions(block: Mapping[str, Any], names: Names) -> list[RenderableType]:  # noqa: ARG001
    elements = [e for e in block.get("elements") or () if isinstance(e, Mapping)]
    return [_Row([_element(e) for e in elements])]


class _Row:
    """Buttons side by side, two spaces apart, wrapped between buttons, never inside one
    (unless a single button is wider than the line)."""

    def __init__(self, items: Sequence[Text]) -> None:
        self.items = items

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = Text()
        for item in self.items:
            if line and line.cell_len + 2 + item.cell_len > options.max_width:
                yield line
                line = Text()
            if line:
                line.append("  ")
            line.append_text(item)
        yield line


def _element(element: Mapping[str, Any]) -> Text:
    """A button as [Label] (green when primary, red when dangerous); a menu as [Label ▾]."""
    kind = str(element.get("type"))
    if kind == "button":
        style = _BUTTON.get(str(element.get("style")), BOLD)
        return Text(f"[{_plain(element.get('text'))}]", style=style)
    if kind == "image":
        return Text(f"{PICTURE} {element.get('alt_text') or 'image'}", style=DIM)
    if kind in ("static_select", "external_select", "users_select", "conversations_select"):
        label = _plain(element.get("placeholder")) or "choose"
        return Text(f"[{label} \N{BLACK DOWN-POINTING SMALL TRIANGLE}]", style=BOLD)
    if kind == "overflow":
        return Text("[\N{HORIZONTAL ELLIPSIS}]", style=BOLD)
    return Text(f"[{kind}]", style=DIM)


def _image(block: Mapping[str, Any], names: Names) -> list[RenderableType]:  # noqa: ARG001
    title = _plain(block.get("title"))
    line = Text(f"{PICTURE} {title or block.get('alt_text') or 'image'}")
    if block.get("image_url"):
        line.append(f" ({block['image_url']})", DIM)
    return [line]


def _file_block(block: Mapping[str, Any], names: Names) -> list[RenderableType]:  # noqa: ARG001
    return [Text(f"{PAPERCLIP} file {block.get('external_id') or ''}".rstrip(), style=DIM)]


def _rich_text(block: Mapping[str, Any], names: Names) -> list[RenderableType]:
    found: list[RenderableType] = []
    for element in block.get("elements") or ():
        if not isinstance(element, Mapping):
            continue
        kind = element.get("type")
        if kind == "rich_text_preformatted":
            found.append(_pre(_rich_runs(element, names).plain))
        elif kind == "rich_text_list":
            bullet = "1." if element.get("style") == "ordered" else "\N{BULLET}"
            for n, item in enumerate(element.get("elements") or (), 1):
                mark = f"{n}." if bullet == "1." else bullet
                found.append(Text(f"  {mark} ").append_text(_rich_runs(item, names)))
        elif kind == "rich_text_quote":
            bar = Text("\N{BOX DRAWINGS HEAVY VERTICAL} ")
            found.append(bar.append_text(_rich_runs(element, names)))
        else:
            found.append(_rich_runs(element, names))
    return found


def _rich_runs(element: Any, names: Names) -> Text:
    line = Text()
    if not isinstance(element, Mapping):
        return line
    for run in element.get("elements") or ():
        if not isinstance(run, Mapping):
            continue
        kind = run.get("type")
        flags = run.get("style") or {}
        style = Style(
            bold=bool(flags.get("bold")) or None,
            italic=bool(flags.get("italic")) or None,
            strike=bool(flags.get("strike")) or None,
        )
        if flags.get("code"):
            style += CODE
        if kind == "text":
            line.append(str(run.get("text") or ""), style)
        elif kind == "link":
            url = str(run.get("url") or "")
            line.append(str(run.get("text") or url), style + Style(underline=True, link=url))
        elif kind == "user":
            user = str(run.get("user_id") or "")
            line.append(f"@{names.get(user, user)}", MENTION)
        elif kind == "channel":
            channel = str(run.get("channel_id") or "")
            line.append(f"#{names.get(channel, channel)}", MENTION)
        elif kind == "emoji":
            code = str(run.get("name") or "")
            line.append(EMOJI.get(code, f":{code}:"))
    return line


def _plain(value: Any) -> str:
    """A plain_text object's words (Slack turns its :emoji: into pictures, so do we)."""
    if not isinstance(value, Mapping):
        return ""
    return _EMOJI_CODE.sub(_emoji, str(value.get("text") or ""))


_BLOCKS: Mapping[str, Callable[[Mapping[str, Any], Names], list[RenderableType]]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "image": _image,
    "file": _file_block,
    "rich_text": _rich_text,
}


# --- mrkdwn ---------------------------------------------------------------------------------


def flow(text: str, names: Names) -> list[RenderableType]:
    """mrkdwn with its ``` blocks drawn apart: paragraphs as styled text, each code block
    indented, unwrapped, in the code colour."""
    found: list[RenderableType] = []
    at = 0
    for fence in _FENCE.finditer(text):
        before = text[at : fence.start()].strip("\n")
        if before:
            found.append(inline(before, names))
        found.append(_pre(_decode(fence.group(1).strip("\n"))))
        at = fence.end()
    rest = text[at:].strip("\n")
    if rest or not found:
        found.append(inline(rest, names))
    return found


def _pre(content: str) -> RenderableType:
    return Padding(Text(content, style=CODE, no_wrap=True, overflow="fold"), (0, 0, 0, 2))


def inline(text: str, names: Names, style: Style | None = None) -> Text:
    """One mrkdwn text as styled terminal text (a ``` block's content shown as code)."""
    tokens: list[tuple[str, Style | None]] = []

    def hold(match: re.Match[str]) -> str:
        """A code span or <...> set aside (as what it shows) so emphasis cannot reach in."""
        code, angle = match.group(1), match.group(2)
        tokens.append((_decode(code), CODE) if code is not None else _angle(angle, names))
        return chr(_PLACEHOLDER + len(tokens) - 1)

    text = _FENCE.sub(lambda m: f"`{m.group(1).strip(chr(10))}`", text)
    held = _TOKEN.sub(hold, text)
    held = _EMOJI_CODE.sub(_emoji, held)
    out = Text()
    for piece, piece_style in _emphasized(held, style or Style()):
        for part, token in _unheld(piece, len(tokens)):
            if token is None:
                out.append(_decode(part), piece_style or None)
            else:
                said, own = tokens[token]
                out.append(said, piece_style + own if own else piece_style or None)
    return out


def _emphasized(text: str, style: Style) -> Iterator[tuple[str, Style]]:
    """Pieces of `text` with the style its *bold*, _italic_ and ~strike~ spans give them."""
    at = 0
    for span in _EMPHASIS_SPAN.finditer(text):
        if span.start() > at:
            yield text[at : span.start()], style
        yield from _emphasized(span.group(2), style + _EMPHASIS[span.group(1)])
        at = span.end()
    if at < len(text):
        yield text[at:], style


def _unheld(text: str, count: int) -> Iterator[tuple[str, int | None]]:
    """`text` split into plain runs and the placeholders in it (by token index)."""
    run: list[str] = []
    for char in text:
        index = ord(char) - _PLACEHOLDER
        if 0 <= index < count:
            if run:
                yield "".join(run), None
                run = []
            yield "", index
        else:
            run.append(char)
    if run:
        yield "".join(run), None


def _angle(inside: str, names: Names) -> tuple[str, Style | None]:
    """What Slack shows for <...>: a mention, a channel, a date, a special, or a link."""
    target, _, label = inside.partition("|")
    label = _decode(label)
    if target.startswith("@"):
        user = target[1:]
        return f"@{names.get(user) or label.removeprefix('@') or user}", MENTION
    if target.startswith("#"):
        channel = target[1:]
        return f"#{names.get(channel) or label.removeprefix('#') or channel}", MENTION
    if target.startswith("!date^"):
        return label or _date_fallback(target), None
    if target.startswith("!subteam^"):
        return label or f"@{target.removeprefix('!subteam^')}", MENTION
    if target.startswith("!"):
        return label or f"@{target[1:]}", MENTION
    url = _decode(target)
    return label or url, Style(underline=True, link=url)


def _date_fallback(target: str) -> str:
    moment = _when(target.split("^")[1] if target.count("^") >= 1 else None)
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else target


def _emoji(match: re.Match[str]) -> str:
    return EMOJI.get(match.group(1), match.group(0))


def _decode(text: str) -> str:
    """Slack's three entities back to their characters (&amp; last: &amp;lt; is "&lt;")."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- output ---------------------------------------------------------------------------------


def plain(renderable: RenderableType, width: int = WIDTH) -> str:
    """`renderable` as uncoloured text `width` columns wide, trailing spaces trimmed."""
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        legacy_windows=False,
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(renderable)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
