"""The kinds of failure every flow distinguishes."""


class EtlError(Exception):
    """Base class of the project's own errors."""


class ConfigError(EtlError):
    """A setting is missing or wrong; raised at start and names the setting."""


class TransientError(EtlError):
    """Network trouble, a 5xx, a lock: retried with backoff, then fails the task for a rerun."""


class BadInputError(EtlError):
    """A file or row breaks a rule; names the file, row, column and rule."""

    def __init__(self, file: str, rule: str, row: int | None = None, column: str | None = None,
                 sheet: str | None = None):
        self.file, self.rule, self.row, self.column, self.sheet = file, rule, row, column, sheet
        where = file
        if sheet is not None:
            where += f", sheet {sheet!r}"
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {rule}")


class HostKeyError(EtlError):
    """An SFTP server offered a host key we have not pinned; never retried."""


class RefusedError(EtlError):
    """A request a safety rule refuses (a push for a past date without --resend, a load for a
    day with no archived copy); the message says what to type instead."""


class ServerRefusedError(EtlError):
    """A server said no to a request of ours (permission denied, operation not supported): the
    account's rights on the partner's side, not the network; never retried. The message names
    the server, the operation, the remote path and the server's own words."""


class DeadlineMissedError(EtlError):
    """A partner did not answer in time (e.g. DPS's results after our send); not bad input."""
