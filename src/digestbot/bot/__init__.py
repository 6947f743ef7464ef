"""The Telegram bot: a thin shell over the service."""
