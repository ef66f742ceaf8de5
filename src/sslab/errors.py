"""The one exception sslab raises for problems a user can fix (bad file, bad option)."""


class SslabError(ValueError):
    """A problem with the user's input; the CLI prints its message on one line and exits with 2."""
