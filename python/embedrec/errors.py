"""Exception hierarchy. Every error raised by embedrec is an :class:`EmbedrecError`; each
has a stable ``code`` attribute (the same string Node's errors carry)."""


class EmbedrecError(Exception):
    """Base class of every embedrec error."""

    code = "EMBEDREC"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InvalidInputError(EmbedrecError, ValueError):
    """An argument has the wrong value, type or shape."""


class DimensionMismatchError(InvalidInputError):
    """A vector has the wrong number of components."""


class UnknownAttributeError(InvalidInputError):
    """A filter names a numeric attribute that no item carries."""


class UnknownItemError(EmbedrecError, KeyError):
    """An item id is not in the catalog."""


class UnknownUserError(EmbedrecError, KeyError):
    """A user id has no stored interactions."""


class CapacityExceededError(EmbedrecError):
    """A limit of the engine would be exceeded."""


class CorruptFileError(EmbedrecError, ValueError):
    """A file is damaged, truncated or not an embedrec file."""


class UnsupportedVersionError(CorruptFileError):
    """A file was written by a format version this build cannot read."""


class EmbedrecIOError(EmbedrecError, OSError):
    """Reading or writing a file failed."""


class ReadOnlyError(EmbedrecError):
    """A write was refused: the engine was opened with ``read_only=True``."""


class CancelledError(EmbedrecError):
    """Training was cancelled by its progress callback."""


class InternalError(EmbedrecError):
    """A bug inside embedrec (for example a caught panic). The engine stays usable."""
