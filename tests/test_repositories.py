"""The small tables' repositories and the shared upsert, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.engine import make_engine, upgrade
from digestbot.db.repositories import BotUsers, ChatMigrations, SchedulerRuns
from digestbot.models import Channel, Language
from digestbot.subscribers import ACTIVE, UNSUBSCRIBED, Subscribers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'repos.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


async def test_a_bot_users_second_choice_replaces_the_first(engine: AsyncEngine) -> None:
    users = BotUsers(engine)
    assert await users.lang("7") is None
    await users.set_lang("7", Language.EN)
    await users.set_lang("7", Language.ZH)
    await users.set_lang("8", Language.EN)
    assert await users.lang("7") is Language.ZH
    assert await users.lang("8") is Language.EN


async def test_a_chat_migrated_twice_points_at_its_newest_id(engine: AsyncEngine) -> None:
    migrations = ChatMigrations(engine)
    await migrations.record("-100", "-1001")
    await migrations.record("-100", "-1002")
    await migrations.record("-200", "-2001")
    assert await migrations.all() == {"-100": "-1002", "-200": "-2001"}


async def test_a_scheduled_fire_is_claimed_once(engine: AsyncEngine) -> None:
    runs = SchedulerRuns(engine)
    assert await runs.claim("publish", "2024-W16", "host:1")
    assert not await runs.claim("publish", "2024-W16", "host:2")
    assert await runs.claim("publish", "2024-W17", "host:2")
    assert await runs.claim("reload", "2024-W16", "host:2")


async def test_importing_an_address_again_takes_the_new_language(engine: AsyncEngine) -> None:
    subs = Subscribers(engine)
    first = await subs.import_csv("email,lang\na@example.com,zh\nb@example.com,en\n")
    assert (first.added, first.rejected) == (2, [])
    await subs.set_status(Channel.EMAIL, "b@example.com", UNSUBSCRIBED, "left")
    await subs.import_csv("email,lang\na@example.com,en\nb@example.com,en\n")
    a = await subs.get(Channel.EMAIL, "a@example.com")
    b = await subs.get(Channel.EMAIL, "b@example.com")
    assert a is not None and (a.lang, a.status) == (Language.EN, ACTIVE)
    assert b is not None and (b.lang, b.status) == (Language.EN, ACTIVE)
