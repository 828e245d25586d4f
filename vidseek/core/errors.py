"""Every error vidseek raises on purpose, in one place.

Each one carries a message written for the user (what went wrong and what to do), so the CLI
prints it as it is and the web API maps each class to one status code (`web/errors.py`).
This module imports nothing, so any part of vidseek can raise these without pulling in another.
"""


class DecodeError(RuntimeError):
    """A file could not be decoded; the message says why, for the user."""


class TooLargeToDecode(DecodeError):
    """An upload whose decoding would cost more than its limits allow."""


class ImageTooLarge(TooLargeToDecode):
    """A picture (an image, a clip's frame) with more pixels than allowed."""


class ClipTooLong(TooLargeToDecode):
    """A clip with more frames than allowed."""


class SubtitleError(ValueError):
    """A subtitle file or stream could not be read; the message says why."""


class StageFailed(RuntimeError):
    """A stage (speech, audio) could not analyse one file; the file is failed with this reason."""


class ModelUnavailable(RuntimeError):
    """A model's weights are not installed; the message says how to install them."""


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime cannot run this model here (not installed, or the export failed)."""


class ModelMismatch(RuntimeError):
    """The library was embedded with another model than the one configured."""


class QueryError(ValueError):
    """The query itself is unusable (empty, too long, bad parameter)."""


class BadSpan(QueryError):
    """A span of a video that cannot be exported: reversed, empty, past the end, too long."""


class ExportRefused(RuntimeError):
    """An export that cannot start now; the message says why and what to do."""


class ExportBusy(ExportRefused):
    """As many exports as allowed are running already."""


class NotEnoughDisk(ExportRefused):
    """The export would leave less free disk than allowed."""


class LabelError(ValueError):
    """A label request that cannot be done as asked; the message says why."""


class UnknownLabel(LabelError):
    """No label has that name."""


class PersonError(ValueError):
    """A request about people that cannot be done as asked; the message says why."""


class UnknownPerson(PersonError):
    """No person has that name or id."""


class NameTaken(PersonError):
    """Another person already has that name (merge them instead)."""


class ClusterUnavailable(RuntimeError):
    """The Ray cluster cannot be reached or refuses this driver; the message says what to do."""


class WriterBusy(RuntimeError):
    """Another process (or thread) is writing to the library; the message says which one."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """An exception as a message's parenthesis: its first line (at most `limit` characters),
    or its type's name when it says nothing."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__
