"""Error types shared by every layer.

`UserError` means bad input: the CLI turns it into exit code 2 and one line on stderr,
and nothing in the registry has changed when it is raised.

`FieldError` is bad input in one named field (`epochs`, `width`, ...). Core and service
raise it with the field's name, never a CLI flag; each interface words it its own way
(`--epochs must be ...` on the command line, `epochs must be ...` in a form).
"""


class UserError(ValueError):
    """Bad input from the user: a clear one-line message, no traceback."""


class FieldError(UserError):
    """Bad input in one field: `field` is the request's field name, `problem` the rest of the sentence."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field.replace('_', ' ')} {problem}")

    def worded(self, name: str) -> str:
        """The message with the field called `name` (a flag, a form label)."""
        return f"{name} {self.problem}"


class RegistryError(UserError):
    """The registry on disk cannot be used (corrupt, future schema, not a folder)."""


class WorkFailed(Exception):
    """The work ran, but some of it failed (a run diverged, a job's run did not finish): exit 1.

    `partial` is the result of what did finish (the runs that trained), for the interface to show."""

    def __init__(self, message: str = "", partial: dict | None = None):
        super().__init__(message)
        self.partial = partial
