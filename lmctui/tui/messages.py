"""Messages that cross from worker threads to the app. Floods are coalesced."""

from __future__ import annotations

from textual.message import Message


class RegistryChanged(Message):
    """Something in the registry changed (a job moved on): screens re-read what they show.

    Only the newest of a burst is kept in the queue (`can_replace`), so a fast job
    cannot flood the UI with refreshes.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RegistryChanged)

