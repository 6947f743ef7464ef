"""Small tables beside the ledger: bot users' languages, Telegram chat migrations, and the
scheduler's claimed fires, each with the few queries the service needs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.tables import bot_users, chat_migrations, scheduler_runs
from digestbot.db.upsert import insert_or_ignore, upsert
from digestbot.models import Language


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BotUsers:
    """The language each bot user chose with /lang (table ``bot_users``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def lang(self, user_id: str) -> Language | None:
        """The language the user chose, or None if they never used /lang."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(bot_users.c.lang).where(bot_users.c.user_id == user_id))
            ).first()
        return Language(row[0]) if row is not None else None

    async def set_lang(self, user_id: str, lang: Language) -> None:
        now = _now()
        stmt = upsert(
            self.engine,
            bot_users,
            key=["user_id"],
            set_={"lang": lang.value, "updated_at": now},
        ).values(user_id=user_id, lang=lang.value, updated_at=now)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)


class ChatMigrations:
    """Telegram groups that became supergroups: old chat id → new chat id."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def all(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(chat_migrations))).all()
        return {r.old_chat_id: r.new_chat_id for r in rows}

    async def record(self, old_chat_id: str, new_chat_id: str) -> None:
        stmt = upsert(
            self.engine, chat_migrations, key=["old_chat_id"], set_={"new_chat_id": new_chat_id}
        ).values(old_chat_id=old_chat_id, new_chat_id=new_chat_id, migrated_at=_now())
        async with self.engine.begin() as conn:
            await conn.execute(stmt)


class SchedulerRuns:
    """Scheduled fires already claimed, so one fire runs once across processes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, job: str, key: str, owner: str) -> bool:
        """Record one fire; False if another process already claimed it."""
        stmt = insert_or_ignore(self.engine, scheduler_runs, key=["job", "fire_key"]).values(
            job=job, fire_key=key, owner=owner, fired_at=_now()
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)
