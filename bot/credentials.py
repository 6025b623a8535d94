"""Provider secrets kept in the store, encrypted with a key only the environment holds
(AISPEND_SECRET_KEY, a Fernet key). A key in the environment always wins over a stored one."""

from __future__ import annotations

from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.collectors import COLLECTORS
from bot.config import Settings
from bot.errors import ConfigError
from bot.store.models import Credential, table_of

_TABLE = table_of(Credential)
MAKE_KEY = "aispend credentials new-key"
# providers whose one secret is a key; Google's credentials are a service-account file
KEYED = {provider: entry.key_setting for provider, entry in COLLECTORS.items() if entry.secret}


def cipher(settings: Settings) -> Fernet:
    key = settings.aispend_secret_key
    if key is None:
        raise ConfigError(f"AISPEND_SECRET_KEY is not set: make one with `{MAKE_KEY}`")
    try:
        return Fernet(key.get_secret_value().encode())
    except ValueError as e:
        raise ConfigError(
            "AISPEND_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from e


def save_credential(
    connection: Connection, fernet: Fernet, provider: str, secret: str, now: datetime
) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {
        "provider": provider,
        "ciphertext": fernet.encrypt(secret.encode()).decode(),
        "updated_at": now,
    }
    statement = insert(_TABLE).values(**values)
    connection.execute(statement.on_conflict_do_update(index_elements=["provider"], set_=values))


def delete_credential(connection: Connection, provider: str) -> bool:
    return bool(connection.execute(delete(_TABLE).where(_TABLE.c.provider == provider)).rowcount)


def list_credentials(connection: Connection) -> list[tuple[str, datetime]]:
    """Which providers have a stored secret, and since when; never the secrets."""
    rows = connection.execute(
        select(_TABLE.c.provider, _TABLE.c.updated_at).order_by(_TABLE.c.provider)
    )
    return [(provider, updated) for provider, updated in rows]


def with_stored_keys(settings: Settings, connection: Connection) -> Settings:
    """Settings with every provider key the environment lacks filled from the store."""
    missing = {p: f for p, f in KEYED.items() if getattr(settings, f) is None}
    query = select(_TABLE.c.provider, _TABLE.c.ciphertext).where(_TABLE.c.provider.in_(missing))
    rows = [(str(p), str(c)) for p, c in connection.execute(query)]
    if not rows:
        return settings
    fernet = cipher(settings)
    return settings.model_copy(update={missing[p]: _decrypt(fernet, p, c) for p, c in rows})


def _decrypt(fernet: Fernet, provider: str, ciphertext: str) -> SecretStr:
    try:
        return SecretStr(fernet.decrypt(ciphertext.encode()).decode())
    except InvalidToken as e:
        raise ConfigError(
            f"AISPEND_SECRET_KEY cannot decrypt the stored {provider} credential: "
            "it was stored with another key; set it again with `aispend credentials set`"
        ) from e
