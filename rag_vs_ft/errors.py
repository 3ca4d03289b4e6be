"""The one exception type for user mistakes: the CLI prints its message on one line, the app shows it."""


class UserError(Exception):
    """Bad input or a missing prerequisite that the user can fix; never a bug."""
