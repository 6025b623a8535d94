"""The Block Kit vocabulary every message builder shares, and the `Message` they return.

Pure: strings and numbers in, dicts out. The builders live next door:
`bot.slack.answers` (the /aispend answers), `bot.slack.incidents` (alert roots and their
thread replies), `bot.slack.digest` (daily digest, weekly summary) and `bot.slack.home` (the
App Home tab); `bot.slack.phrases` words domain objects as one-line mrkdwn for all of them.

Two rules hold everywhere:

* **Escaping.** mrkdwn reads `&`, `<` and `>` as control characters, so every string a person
  or a provider chose (model, team, feature, project, key names; summaries that quote them;
  provider error text) goes through `escape` before it lands in mrkdwn, including code blocks
  and the plain-text fallback. plain_text objects (headers, buttons) carry only our own words.
* **Limits** (`bot.slack.limits`). Names are clipped with an ellipsis, lists are capped with an
  "and N more" line, sections are filled line by line up to their length limit, and `finish`
  keeps a message under its block limit, so `block_problems` finds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bot.money import format_usd
from bot.slack import ids, limits

Block = dict[str, Any]

NAME = 40  # characters of a name in a line or a table cell
HEADLINE = 80  # characters of a name that heads a message
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
UP, DOWN = "\N{BLACK UP-POINTING TRIANGLE}", "\N{BLACK DOWN-POINTING TRIANGLE}"


@dataclass(frozen=True, slots=True)
class Message:
    """What one chat.postMessage / chat.update / respond sends: the fallback `text` Slack
    shows in notifications and where blocks cannot be drawn (escaped mrkdwn), the blocks,
    optional message metadata ({"event_type": ..., "event_payload": {...}}), and whether a
    thread reply is also shown in the channel."""

    text: str
    blocks: list[Block]
    metadata: Mapping[str, Any] | None = None
    reply_broadcast: bool = False

    def payload(self) -> dict[str, Any]:
        """The message as keyword arguments for the Web API (and as the golden files hold it)."""
        found: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.metadata is not None:
            found["metadata"] = dict(self.metadata)
        if self.reply_broadcast:
            found["reply_broadcast"] = True
        return found


# --- text ----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """`text` made literal in mrkdwn: & < > become entities; nothing else is touched."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, most: int) -> str:
    """`text` cut to at most `most` characters, ending in an ellipsis when it was cut."""
    return text if len(text) <= most else text[: most - 1] + ELLIPSIS


def name(value: str, most: int = NAME) -> str:
    """A user-chosen name, clipped and escaped for mrkdwn; empty shows as "(none)"."""
    return escape(clip(value or "(none)", most))


def code_safe(text: str) -> str:
    """Raw text for a ``` block: a backtick in a name would end the block early."""
    return text.replace("`", "'")


_MENTION = re.compile(r"<(@[UW][A-Z0-9]+|#C[A-Z0-9]+|!subteam\^S[A-Z0-9]+|!here|!channel)>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def mention(who: str) -> str:
    """A Slack mention as given (`<@U123>`, `<!subteam^S123>`), a bare user id made one, and
    anything else escaped as text, so a configured name can never inject markup."""
    if _MENTION.fullmatch(who):
        return who
    if _USER_ID.fullmatch(who):
        return f"<@{who}>"
    return escape(who)


def link(url: str | None, label: str) -> str:
    """`label` (already mrkdwn) linked to `url`, or just the label without one."""
    if not url:
        return label
    return f"<{escape(url).replace('|', '%7C')}|{label}>"


def slack_date(moment: datetime, template: str = "{date_short_pretty} at {time}") -> str:
    """A moment shown in each reader's time zone, with a UTC fallback for old clients."""
    utc = moment.astimezone(UTC)
    return f"<!date^{int(utc.timestamp())}^{template}|{utc:%Y-%m-%d %H:%M} UTC>"


def usd(amount: Decimal) -> str:
    return format_usd(amount)


def signed_usd(amount: Decimal) -> str:
    return ("+" if amount >= 0 else "-") + format_usd(abs(amount))


def trend(now: Decimal, before: Decimal | None) -> str:
    """▲ 12%, ▼ 8%, ▲ 14x, "new" when nothing came before, "flat" within half a percent."""
    if before is None or before <= 0:
        return "new" if now > 0 else "flat"
    ratio = now / before
    if ratio >= 10:
        return f"{UP} {ratio:.0f}x"
    change = ratio - 1
    if abs(change) < Decimal("0.005"):
        return "flat"
    return f"{UP if change > 0 else DOWN} {abs(change):.0%}"


def share_bar(share: Decimal | None, width: int = 10) -> str:
    """A budget's use as ▓▓▓▓▓▓░░░░; full past 100%."""
    if share is None:
        return ""
    filled = min(width, max(0, int(share * width)))
    return "\N{DARK SHADE}" * filled + "\N{LIGHT SHADE}" * (width - filled)


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def day_label(day: date) -> str:
    """Tue 17 Nov (a date or datetime)."""
    return f"{day:%a} {day.day} {day:%b}"


# --- fitting -------------------------------------------------------------------------------


def fit_lines(
    lines: Sequence[str],
    *,
    most: int = limits.SECTION_TEXT,
    more: Callable[[int], str] | None = None,
) -> str:
    """As many whole lines as fit in `most` characters, then `more(n)` for the n left out."""
    text = "\n".join(lines)
    if len(text) <= most:
        return text
    more = more or _and_more
    prefix = [0]
    for line in lines:
        prefix.append(prefix[-1] + len(line) + 1)  # each line with its newline
    for keep in range(len(lines) - 1, 0, -1):
        tail = more(len(lines) - keep)
        if prefix[keep] + len(tail) <= most:
            return "\n".join([*lines[:keep], tail])
    return clip(more(len(lines)), most)


def _and_more(count: int) -> str:
    return f"{ELLIPSIS} and {count:,} more"


def capped(lines: Sequence[str], most: int, more: Callable[[int], str] | None = None) -> list[str]:
    """The first `most` lines and an "and N more" line for the rest."""
    if len(lines) <= most:
        return list(lines)
    return [*lines[: most - 1], (more or _and_more)(len(lines) - most + 1)]


def sections(
    lines: Sequence[str],
    *,
    most_lines: int,
    more: Callable[[int], str] | None = None,
    title: str | None = None,
) -> list[Block]:
    """Lines capped at `most_lines` (the last one saying how many were left out), after a
    `title` line when given, packed in order into as few sections as hold them whole."""
    found: list[Block] = []
    chunk: list[str] = []
    shown = capped(lines, most_lines, more)
    for line in [title, *shown] if title else shown:
        if chunk and len("\n".join([*chunk, line])) > limits.SECTION_TEXT:
            found.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        found.append(section("\n".join(chunk)))
    return found


def preformatted(lines: Sequence[str], most: int = limits.SECTION_TEXT) -> str:
    """Lines (already escaped) in a ``` block that fits in `most` characters."""
    fence = "```"
    body = fit_lines(lines, most=most - 2 * len(fence) - 2)
    return f"{fence}\n{body}\n{fence}"


def aligned(rows: Sequence[Sequence[str]], numbers: int) -> list[str]:
    """Raw text rows as aligned columns: names left, the last `numbers` columns right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    first_number = len(widths) - numbers
    out = []
    for row in rows:
        cells = [
            c.rjust(w) if i >= first_number else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


# --- blocks --------------------------------------------------------------------------------


def header(text: str) -> Block:
    """A header; `text` must be our own words (plain_text is not escaped)."""
    plain = {"type": "plain_text", "text": clip(text, limits.HEADER_TEXT), "emoji": True}
    return {"type": "header", "text": plain}


def section(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(_fit(text, limits.SECTION_TEXT))}
    if block_id:
        block["block_id"] = block_id
    return block


def fields(
    cells: Sequence[str],
    *,
    text: str | None = None,
    more: Callable[[int], str] | None = None,
) -> Block:
    """A section of up to ten two-column fields (they stack on a phone), under `text`."""
    shown = capped(cells, limits.SECTION_FIELDS, more)
    block: Block = {"type": "section"}
    if text:
        block["text"] = mrkdwn(_fit(text, limits.SECTION_TEXT))
    block["fields"] = [mrkdwn(_fit(cell, limits.FIELD_TEXT)) for cell in shown]
    return block


def context(*texts: str, block_id: str | None = None) -> Block:
    elements = [mrkdwn(_fit(t, limits.SECTION_TEXT)) for t in texts if t]
    block: Block = {"type": "context", "elements": elements[: limits.CONTEXT_ELEMENTS]}
    if block_id:
        block["block_id"] = block_id
    return block


def divider() -> Block:
    return {"type": "divider"}


def actions(elements: Sequence[Block], *, block_id: str) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    found: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, limits.BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": clip(value, limits.BUTTON_VALUE),
    }
    if style:
        found["style"] = style
    if confirm:
        found["confirm"] = confirm
    return found


def confirm_dialog(title: str, text: str, yes: str, no: str = "Cancel") -> Block:
    """A confirmation for a dangerous button; `text` is mrkdwn (escape names in it)."""
    return {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": mrkdwn(_fit(text, 300)),
        "confirm": {"type": "plain_text", "text": clip(yes, 30)},
        "deny": {"type": "plain_text", "text": clip(no, 30)},
        "style": "danger",
    }


def share_button(share_key: str) -> Block:
    """The "Share to channel" row of an ephemeral answer; the key names the answer."""
    share = button("Share to channel", ids.SHARE_ANSWER, share_key)
    return actions([share], block_id=ids.SHARE_BLOCK)


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def finish(blocks: Iterable[Block], *, most: int = limits.BLOCKS_PER_MESSAGE) -> list[Block]:
    """The blocks, cut to `most` if there are more: the last block (buttons, usually) stays
    and a context line says how many were left out. Builders cap their rows first; this is
    the backstop that keeps any input inside the limit."""
    found = list(blocks)
    if len(found) <= most:
        return found
    left_out = len(found) - most + 1
    note = context(f"{ELLIPSIS} {plural(left_out, 'more block')} not shown")
    return [*found[: most - 2], note, found[-1]]


_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def _fit(text: str, most: int) -> str:
    """`text` cut on a line boundary to fit `most`, never inside an entity, a <...> token or
    a ``` block. Builders fit their lines first; this is the backstop."""
    if len(text) <= most:
        return text
    cut = text[: most - 5]
    line_end = cut.rfind("\n")
    if line_end > len(cut) - 500:  # a whole line, unless that loses too much
        cut = cut[:line_end]
    cut = _PARTIAL_ENTITY.sub("", cut)
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    cut += ELLIPSIS
    if cut.count("```") % 2:
        cut += "\n```"
    return cut
