from __future__ import annotations

from alembic import context

import config.models  # noqa: F401 - registers every table on Base.metadata
from config.db import Base, UTCDateTime, make_engine

target_metadata = Base.metadata


def render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    # Our own column types render as themselves; the script template imports them.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "UTCDateTime()"
    return False


OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "render_item": render_item,
    "compare_type": True,
}


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
