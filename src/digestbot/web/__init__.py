"""The web app: archive, feed, search, subscriptions; a thin shell over the service."""
