"""Registers the member-card events into the WeChat callback pipeline: the card services declare themselves with
`@card_event` (members.callbacks) when they are imported."""

import members.services.cards  # noqa: F401
