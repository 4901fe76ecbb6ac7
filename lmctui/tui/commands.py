"""The command palette (ctrl+p): every action of the app, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Provider

# (action on the app, title, help): the command palette lists all of these, the help screen the keys.
ACTIONS = [
    ("new_training", "New training", "train a width x seed grid (n)"),
    ("interpolate", "Interpolate selected pair", "loss and accuracy along the line, naive and aligned (i)"),
    ("align", "Align selected pair", "permute the second run to match the first (a)"),
    ("average", "Average selected runs", "naive, weight, activation or MergeMany (v)"),
    ("pairwise", "Pairwise barriers of selection", "matrix of barriers over all selected pairs (p)"),
    ("sweep", "Width sweep", "train seeds per width and measure every pair (w)"),
    ("regions", "Decision regions", "2-D toy runs: the regions, and along the line to a second run (d)"),
    ("main('export')", "Export pane to CSV", "the current pane, filters applied, to HOME/exports (e)"),
    ("main('filter')", "Filter pane", "text or key=value, e.g. width=64 status=done (/)"),
    ("main('clear_filter')", "Clear filter", "show every row again (esc)"),
    ("main('open')", "Open row", "a run, a job's detail or a curve (enter)"),
    ("main('cancel_job')", "Cancel job", "the job under the cursor in the Jobs pane (c)"),
    ("main('requeue_job')", "Re-queue job", "a failed, cancelled or interrupted job under the cursor (r)"),
    ("main('show_tab(\"runs\")')", "Show runs", "the Runs pane (1)"),
    ("main('show_tab(\"jobs\")')", "Show jobs", "the Jobs pane (2)"),
    ("main('show_tab(\"barriers\")')", "Show barriers", "the Barriers pane (3)"),
    ("main('show_tab(\"sweeps\")')", "Show sweeps", "the Sweeps pane (4)"),
    ("help", "Help", "every key (?)"),
    ("request_quit", "Quit", "asks first when jobs run here (q)"),
]


class LmcCommands(Provider):
    async def discover(self):
        for action, title, text in ACTIONS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=text)

    async def search(self, query: str):
        matcher = self.matcher(query)
        for action, title, text in ACTIONS:
            score = max(matcher.match(title), matcher.match(text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action), help=text)
