"""The topic commands: /topics (buttons that follow or unfollow), /follow, /unfollow, /following.

Each handler parses its update, makes one service call, renders the reply with
`digestbot.bot.topic_views` and sends it through `Replies`. Follows belong to the private
chat (its id is the address personal messages go to).
"""

from __future__ import annotations

import re

from telegram import Update
from telegram.constants import ChatType

from digestbot.bot import topic_views as views
from digestbot.bot.handlers import command_argument
from digestbot.bot.replies import Context, Replies
from digestbot.errors import FollowError
from digestbot.models import Channel, Language

__all__ = ["CALLBACK_TOPIC", "TopicHandlers"]

CALLBACK_TOPIC = re.compile(r"^tf:([a-z0-9-]{1,60})$")


class TopicHandlers:
    """What readers ask about topics."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.service = replies.service

    async def _private_chat(self, update: Update, context: Context, lang: Language) -> str | None:
        chat = update.effective_chat
        if chat is None:
            return None
        if chat.type != ChatType.PRIVATE:
            await self.replies.reply(update, context, views.say(lang, "follow_private"))
            return None
        return str(chat.id)

    async def _followed_slugs(self, address: str) -> set[str]:
        follows = await self.service.following(Channel.TELEGRAM, address)
        return {f.value for f in follows if f.kind == "topic"}

    async def topics(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        chat = update.effective_chat
        if chat is None:
            return
        mine = await self._followed_slugs(str(chat.id)) if chat.type == ChatType.PRIVATE else set()
        await self.replies.reply(
            update, context, views.topic_list(self.service.topics(), mine, lang)
        )

    async def toggle(self, update: Update, context: Context) -> None:
        """A topic button: follow it, or unfollow it when already followed."""
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None or query.data is None:
            return
        lang = await self.replies.lang_of(update.effective_user)
        match = CALLBACK_TOPIC.match(query.data)
        assert match is not None
        topic = self.service.topic(match.group(1))
        if topic is None or chat.type != ChatType.PRIVATE:
            await query.answer(views.say(lang, "follow_private" if topic else "topics_none"))
            return
        address = str(chat.id)
        name = topic.name(Language.EN if lang is Language.EN else Language.ZH)
        if topic.slug in await self._followed_slugs(address):
            await self.service.unfollow(Channel.TELEGRAM, address, topic.slug)
            await query.answer(views.say(lang, "button_unfollowed", name=name))
        else:
            await self.service.follow(Channel.TELEGRAM, address, topic.slug, lang)
            await query.answer(views.say(lang, "button_followed", name=name))
        mine = await self._followed_slugs(address)
        await self.replies.edit(update, views.topic_list(self.service.topics(), mine, lang))

    async def follow(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        address = await self._private_chat(update, context, lang)
        if address is None:
            return
        arg = command_argument(update.effective_message)
        if not arg:
            await self.replies.reply(update, context, views.say(lang, "follow_usage"))
            return
        try:
            done = await self.service.follow(Channel.TELEGRAM, address, arg, lang)
        except FollowError as exc:
            await self.replies.reply(
                update, context, views.say(lang, "follow_error", error=str(exc))
            )
            return
        text = views.followed(done.kind, done.value, done.topic, done.added, lang)
        await self.replies.reply(update, context, text)

    async def unfollow(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        address = await self._private_chat(update, context, lang)
        if address is None:
            return
        arg = command_argument(update.effective_message)
        if not arg:
            await self.replies.reply(update, context, views.say(lang, "unfollow_usage"))
            return
        try:
            removed = await self.service.unfollow(Channel.TELEGRAM, address, arg)
        except FollowError as exc:
            await self.replies.reply(
                update, context, views.say(lang, "follow_error", error=str(exc))
            )
            return
        everything = arg.strip().lower() in ("all", "全部")
        text = views.unfollowed(arg.strip(), removed, lang, everything=everything)
        await self.replies.reply(update, context, text)

    async def following(self, update: Update, context: Context) -> None:
        lang = await self.replies.lang_of(update.effective_user)
        address = await self._private_chat(update, context, lang)
        if address is None:
            return
        follows = await self.service.following(Channel.TELEGRAM, address)
        items = [(f.kind, f.value) for f in follows]
        await self.replies.reply(
            update, context, views.following(items, self.service.topics(), lang)
        )
