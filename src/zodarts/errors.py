"""Errors and warnings a user can act on.

Anything raised as a :class:`ZodartsError` is printed by the CLI as one line (exit code 1) with
no traceback; every other exception is a bug in zodarts (exit code 3). A :class:`ZodartsWarning`
is printed as one line, once per message, and the work goes on.
"""


class ZodartsError(Exception):
    """A problem with the user's input, data or configuration; the message says how to fix it."""


class DataError(ZodartsError):
    """Missing, corrupt or inconsistent data."""


class ConfigError(ZodartsError):
    """An invalid setting or combination of settings."""


class SearchDiverged(ZodartsError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class ZodartsWarning(UserWarning):
    """Something the user should know that does not stop the work."""


class SettingWarning(ZodartsWarning):
    """A setting that was changed to fit the data (e.g. a batch larger than the split)."""
