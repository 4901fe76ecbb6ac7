"""Use cases shared by the CLI and the TUI: the one place where core, store and jobs meet.

`catalog` (reading, removing, exporting) never imports torch; `training` and the
science use cases do, so callers import them inside the work.
"""
