"""One flat record (a JSON object or a CSV row) to a UsageEvent. Pure; runs for every line.

Field names have aliases (`input_tokens` for `tokens_in`, ...). Every converter takes the name
the record used, so an error names the field as the sender spelled it, and the bad value.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import orjson

from bot.domain import EventStatus, UsageEvent
from bot.errors import InputError
from bot.money import parse_amount
from bot.providers import PROVIDERS, resolve_provider

MAX_VALUE_CHARS = 256
_SHOWN_CHARS = 60
_MAX_COUNT = 2**63 - 1  # a signed 64-bit column
REQUIRED_FIELDS = ("ts", "provider", "model")  # canonical names a record must have
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MICROS = 946_684_800 * 10**6  # 2000-01-01T00:00:00Z
_END_MICROS = 4_133_980_800 * 10**6  # 2101-01-01T00:00:00Z
# epoch numbers above the floor are in a finer unit: (floor, units per second)
_EPOCH_UNITS = ((1e17, 10**9), (1e14, 10**6), (1e11, 10**3))
_STATUS_WORDS = {"ok": EventStatus.OK, "error": EventStatus.ERROR}
_FLAGS: dict[object, bool] = {
    "true": True,
    "1": True,
    1: True,
    "false": False,
    "0": False,
    0: False,
}
_PROVIDER_IDS = {n: p.id for p in PROVIDERS.values() for n in (p.id, *p.aliases)}


def _show(value: object) -> str:
    """The value as JSON, cut to about 60 characters, for an error message."""
    if type(value) is str and len(value) > _SHOWN_CHARS:
        value = value[:_SHOWN_CHARS] + "..."
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # an int beyond 64 bits, a string with lone surrogates, deep nesting
        shown = repr(value) if type(value) is not int else _show_int(value)
    return shown if len(shown) <= _SHOWN_CHARS + 5 else shown[:_SHOWN_CHARS] + "..."


def _show_int(value: int) -> str:
    bits = value.bit_length()
    return str(value) if bits <= 256 else f"an integer of {bits} bits"  # str refuses 4300 digits


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _whole_number(value: object) -> int | None:
    """An int from an int, an integral float, or a string of either; None for anything else."""
    if type(value) is str:
        if len(value) > MAX_VALUE_CHARS:
            return None
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
        value = _float(text)
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _text(name: str, value: object) -> str:
    if type(value) is str:
        if len(value) <= MAX_VALUE_CHARS:
            return value
        raise InputError(f"{name} is longer than {MAX_VALUE_CHARS} characters: {_show(value)}")
    if type(value) is int and -_MAX_COUNT <= value <= _MAX_COUNT:
        return str(value)
    raise InputError(f"{name} must be a string, got {_show(value)}")


def _provider(name: str, value: object) -> str:
    found = _PROVIDER_IDS.get(value) if type(value) is str else None  # the usual exact name
    if found is not None:
        return found
    text = _text(name, value)
    found = resolve_provider(text)
    if found is not None:
        return found
    close = difflib.get_close_matches(text.strip().lower(), list(_PROVIDER_IDS), n=1)
    hint = f' (did you mean "{_PROVIDER_IDS[close[0]]}"?)' if close else ""
    raise InputError(f"unknown {name} {_show(text)}{hint}")


def _count(name: str, value: object) -> int:
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    number = _whole_number(value)
    if number is None or not 0 <= number <= _MAX_COUNT:
        raise InputError(f"{name} must be a whole number >= 0, got {_show(value)}")
    return number


def _latency(name: str, value: object) -> int:
    number = _float(value) if type(value) is str and len(value) <= MAX_VALUE_CHARS else value
    if (type(number) is int or type(number) is float) and 0 <= number <= _MAX_COUNT:
        return round(number)
    raise InputError(f"{name} must be a number of milliseconds >= 0, got {_show(value)}")


def _status(name: str, value: object) -> EventStatus:
    if type(value) is str:
        word = _STATUS_WORDS.get(value.strip().lower())
        if word is not None:
            return word
    code = _whole_number(value)
    if code is not None and 100 <= code <= 599:
        return EventStatus.ERROR if code >= 400 else EventStatus.OK
    raise InputError(f'{name} must be "ok", "error" or an HTTP status code, got {_show(value)}')


def _batch(name: str, value: object) -> bool:
    if type(value) is bool:
        return value
    key = value.strip().lower() if type(value) is str else value if type(value) is int else None
    flag = _FLAGS.get(key)
    if flag is None:
        raise InputError(f'{name} must be true, false, "1" or "0", got {_show(value)}')
    return flag


def _cost(name: str, value: object) -> Decimal:
    if not isinstance(value, str | int | float) or (type(value) is str and len(value) > 64):
        raise InputError(f"{name} must be an amount in USD, got {_show(value)}")
    try:
        amount = parse_amount(value)
    except ValueError as e:
        raise InputError(f"{name} must be an amount in USD, got {_show(value)}") from e
    if amount < 0:
        raise InputError(f"{name} must be >= 0, got {_show(value)}")
    return amount


def _epoch(number: int | float) -> datetime:
    """Epoch seconds, or milli-, micro- or nanoseconds when the number is too big for seconds."""
    per_second = next((units for floor, units in _EPOCH_UNITS if number > floor), 1)
    if type(number) is int:
        micros: int | float = number * 10**6 // per_second
    else:
        micros = number * 1e6 / per_second
    if _FIRST_MICROS <= micros < _END_MICROS:
        return _EPOCH + timedelta(microseconds=micros)
    raise InputError(f"timestamp year must be between 2000 and 2100, got {_show(number)}")


def _utc(moment: datetime, text: str) -> datetime:
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise InputError(f"timestamp has no timezone: {_show(text)}")
        if 1999 <= moment.year <= 2101:  # astimezone could overflow at the ends of time
            moment = moment.astimezone(UTC)
    if 2000 <= moment.year <= 2100:
        return moment
    raise InputError(f"timestamp year must be between 2000 and 2100, got {_show(text)}")


def _timestamp(name: str, value: object) -> datetime:
    if type(value) is str and len(value) <= MAX_VALUE_CHARS:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            number = _whole_number(value) if value.isdigit() else _float(value)
            if number is not None:
                return _epoch(number)
        else:
            if moment.tzinfo is UTC and 2000 <= moment.year <= 2100:
                return moment
            return _utc(moment, value)
    elif type(value) is int or type(value) is float:
        return _epoch(value)
    raise InputError(f"{name} must be an ISO 8601 time or epoch seconds, got {_show(value)}")


_CONVERTERS: dict[str, Callable[[str, object], object]] = {
    **dict.fromkeys(("request_id", "model", "project", "api_key", "feature", "team"), _text),
    **dict.fromkeys(("customer", "environment", "service_tier"), _text),
    **dict.fromkeys(("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens"), _count),
    "ts": _timestamp,
    "provider": _provider,
    "batch": _batch,
    "latency_ms": _latency,
    "status": _status,
    "cost": _cost,
}
_ALIASES_OF = {
    "ts": ("timestamp", "time"),
    "request_id": ("id", "response_id"),
    "tokens_in": ("input_tokens", "prompt_tokens"),
    "tokens_out": ("output_tokens", "completion_tokens"),
    "cache_read_tokens": ("cached_tokens",),
    "cache_write_tokens": ("cache_creation_input_tokens",),
    "environment": ("env",),
    "api_key": ("key",),
    "cost": ("cost_usd",),
}
# every accepted field name -> the UsageEvent field it fills
FIELD_NAMES: Final[Mapping[str, str]] = {
    **{name: name for name in _CONVERTERS},
    **{alias: name for name, aliases in _ALIASES_OF.items() for alias in aliases},
}

# the values of a record, in the order of UsageEvent's fields; None marks a required one
_ORDER = tuple(f.name for f in dataclasses.fields(UsageEvent))
_DEFAULTS = [
    None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(UsageEvent)
]
_INDEX = {name: i for i, name in enumerate(_ORDER)}
# the type of a value that is already valid if short (str) or in 0.._MAX_COUNT (int)
_PLAIN_TYPES: dict[object, type] = {_text: str, _count: int, _latency: int}
_SLOTS: dict[str, tuple[int, Callable[[str, object], object], Any]] = {
    key: (_INDEX[name], _CONVERTERS[name], _PLAIN_TYPES.get(_CONVERTERS[name]))
    for key, name in FIELD_NAMES.items()
}
_TS, _REQUEST_ID, _PROVIDER, _MODEL, _SOURCE = (
    _INDEX[n] for n in ("ts", "request_id", "provider", "model", "source")
)
_TOKENS_IN, _CACHE_READ, _CACHE_WRITE = (
    _INDEX[n] for n in ("tokens_in", "cache_read_tokens", "cache_write_tokens")
)


def _values(obj: Mapping[str, Any]) -> list[Any]:
    """UsageEvent field values in order; None and "" mean missing; of two aliases the last wins.
    Plain values, most of any record, are taken without a converter call."""
    values = _DEFAULTS.copy()
    for key, value in obj.items():
        slot = _SLOTS.get(key)
        if slot is None:
            continue
        index, convert, plain = slot
        if type(value) is plain and (
            len(value) <= MAX_VALUE_CHARS if plain is str else 0 <= value <= _MAX_COUNT
        ):
            values[index] = value
        elif value is not None and value != "":
            values[index] = convert(key, value)
    return values


def _cache_error(values: list[Any]) -> InputError:
    return InputError(
        f"cache_read_tokens + cache_write_tokens ({values[_CACHE_READ] + values[_CACHE_WRITE]})"
        f" exceed tokens_in ({values[_TOKENS_IN]}): tokens_in must include cached tokens"
    )


def _check_required(values: list[Any]) -> None:
    for name in REQUIRED_FIELDS:
        if not values[_INDEX[name]]:
            raise InputError(f'missing field "{name}"')
    if values[_MODEL].isspace():
        raise InputError(f"model must not be blank, got {_show(values[_MODEL])}")


def _derived_request_id(obj: Mapping[str, object]) -> str:
    """For a record without one: "h:" and a hash of its canonical JSON, the same every time
    the same record is read, so ingesting a file twice stores its events once."""
    try:
        data = orjson.dumps(obj if type(obj) is dict else dict(obj), option=orjson.OPT_SORT_KEYS)
    except TypeError as e:
        raise InputError(f"no request_id, and cannot derive one from this record: {e}") from e
    return "h:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_event(obj: Mapping[str, object], *, source: str) -> UsageEvent:
    """A UsageEvent from one flat record; InputError(reason) names the bad field and value."""
    values = _values(obj)
    if not (values[_TS] and values[_PROVIDER] and values[_MODEL]) or values[_MODEL].isspace():
        _check_required(values)
    if values[_CACHE_READ] + values[_CACHE_WRITE] > values[_TOKENS_IN]:
        raise _cache_error(values)
    if not values[_REQUEST_ID]:
        values[_REQUEST_ID] = _derived_request_id(obj)
    values[_SOURCE] = source
    return UsageEvent(*values)
