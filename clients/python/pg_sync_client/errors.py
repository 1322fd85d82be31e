"""PgSyncError: a failed call, with the server's ErrorInfo reason when it sent one."""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = ["InvalidArgumentError", "PgSyncError", "error_from_rpc"]

RESUME_TOKEN_TRAILER = "pgsync-resume-token"


class PgSyncError(Exception):
    """A pg-sync call failed.

    ``code`` is the ``grpc.StatusCode``; ``reason``/``domain``/``metadata`` come from the
    ``google.rpc.ErrorInfo`` detail (e.g. ``SOURCE_NOT_FOUND``) and are empty when absent;
    ``resume_token`` is the ``pgsync-resume-token`` trailer when the server sent one.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        resume_token: str = "",
    ) -> None:
        super().__init__(f"{code.name}: {message}" + (f" ({reason})" if reason else ""))
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = metadata or {}
        self.resume_token = resume_token


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The first ``google.rpc.ErrorInfo`` in the call's ``grpc-status-details-bin`` trailer."""
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
    except (ValueError, DecodeError):  # details that disagree with the status, or are not a Status
        return None
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def error_from_rpc(err: grpc.RpcError) -> PgSyncError:
    """Converts a grpc.RpcError (a failed call) into a PgSyncError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    token = ""
    for key, value in trailers or ():
        if key == RESUME_TOKEN_TRAILER:
            token = value if isinstance(value, str) else value.decode()
    info = _error_info(err) if trailers else None
    return PgSyncError(
        code or grpc.StatusCode.UNKNOWN,
        message or "",
        reason=info.reason if info else "",
        domain=info.domain if info else "",
        metadata=dict(info.metadata) if info else {},
        resume_token=token,
    )


class InvalidArgumentError(PgSyncError, ValueError):
    """An argument was rejected locally, before any call; the message names it (``ops[0]``).

    Its ``code`` is INVALID_ARGUMENT, as if the server had rejected it; it is a ``ValueError`` too.
    """

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message)
