"""Delivery: the ledger, the publisher that drains it, and one Sender per transport."""
