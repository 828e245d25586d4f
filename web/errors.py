"""One JSON error shape for every failure: {"error": {"code": 404, "message": "..."}}.

Errors are raised where they happen, with a message a user can act on, and turned into a
response once, here; a client never sees a stack trace."""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from vidseek.core.errors import (
    ClipTooLong,
    DecodeError,
    ExportBusy,
    ExportRefused,
    LabelError,
    ModelMismatch,
    ModelUnavailable,
    NameTaken,
    PersonError,
    QueryError,
    TooLargeToDecode,
    UnknownLabel,
    UnknownPerson,
    WriterBusy,
)

EXPORT_RETRY_AFTER_S = 10  # a short clip is cut in well under a second; a reel takes longer


class ApiError(Exception):
    """A request the API refuses, with the HTTP status to answer."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(code: int, message: str):
    """The JSON body and status of an error."""
    return jsonify({"error": {"code": code, "message": message}}), code


def register_error_handlers(app: Flask) -> None:
    """Answer every error path of `app` with the one JSON error shape."""

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.code, e.message)

    @app.errorhandler(QueryError)
    def _bad_query(e: QueryError):
        return error_response(400, str(e))

    @app.errorhandler(LabelError)
    def _bad_label(e: LabelError):
        return error_response(404 if isinstance(e, UnknownLabel) else 400, str(e))

    @app.errorhandler(DecodeError)
    def _undecodable_upload(e: DecodeError):
        return error_response(415, str(e))

    @app.errorhandler(TooLargeToDecode)
    def _too_large_to_decode(e: TooLargeToDecode):
        remedy = ("send a shorter clip (setting max_clip_frames)" if isinstance(e, ClipTooLong)
                  else "send a smaller image or clip (setting max_image_megapixels)")
        return error_response(413, f"{e}; {remedy}")

    @app.errorhandler(PersonError)
    def _bad_person(e: PersonError):
        return error_response(404 if isinstance(e, UnknownPerson) else
                              409 if isinstance(e, NameTaken) else 400, str(e))

    @app.errorhandler(WriterBusy)
    def _writer_busy(e: WriterBusy):
        return error_response(409, str(e))

    @app.errorhandler(ExportRefused)
    def _export_refused(e: ExportRefused):
        if isinstance(e, ExportBusy):
            body, code = error_response(429, str(e))
            body.headers["Retry-After"] = str(EXPORT_RETRY_AFTER_S)
            return body, code
        return error_response(507, str(e))

    @app.errorhandler(ModelUnavailable)
    @app.errorhandler(ModelMismatch)
    def _model_not_ready(e: Exception):
        return error_response(503, str(e))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        return error_response(413, f"the upload is larger than the {limit:g} MB limit; send a "
                                   "shorter clip or a smaller image (setting max_upload_mb)")

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        body, code = error_response(e.code or 500, e.description or e.name)
        # Keep what the status needs besides the body: Allow on a 405, Content-Range on a 416.
        body.headers.extend((k, v) for k, v in e.get_headers() if k.lower() != "content-type")
        return body, code

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        current_app.logger.exception("unexpected error while answering a request")
        return error_response(500, f"internal error ({type(e).__name__}); the server log has "
                                   "the details")
