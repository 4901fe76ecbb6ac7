"""The keys that close a screen act before the next typed key is read.

A plain binding runs in the focused widget's own message loop, and by then the app may
already have forwarded the next key (typed ahead on a slow machine) to the closing
screen, where it is lost. A priority binding runs while the app itself handles the key,
so the screen is gone before the next key is dispatched: it goes to the screen below.
"""

from __future__ import annotations

from textual.binding import Binding


def closing(keys: str, action: str, description: str, show: bool = True) -> Binding:
    return Binding(keys, action, description, show=show, priority=True)


BACK = closing("escape,q", "app.pop_screen", "Back")
