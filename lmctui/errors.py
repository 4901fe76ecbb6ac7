"""Error types shared by every layer.

`UserError` means bad input: the CLI turns it into exit code 2 and one line on stderr,
and nothing in the registry has changed when it is raised.
"""


class UserError(ValueError):
    """Bad input from the user: a clear one-line message, no traceback."""


class RegistryError(UserError):
    """The registry on disk cannot be used (corrupt, future schema, not a folder)."""
