"""PgSyncError: a failed call, with the server's ErrorInfo reason when it sent one."""

from __future__ import annotations

from typing import Any

import grpc

__all__ = ["PgSyncError", "error_from_rpc"]

RESUME_TOKEN_TRAILER = "pgsync-resume-token"
_STATUS_DETAILS = "grpc-status-details-bin"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


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


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, Any]]:
    """Top-level fields of a protobuf message: (number, int | bytes). Enough for Status/ErrorInfo."""
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i : i + n], i + n
        elif wire == 1:
            v, i = buf[i : i + 8], i + 8
        elif wire == 5:
            v, i = buf[i : i + 4], i + 4
        else:
            raise ValueError("unsupported wire type")
        out.append((num, v))
    return out


def _error_info(status_bin: bytes) -> tuple[str, str, dict[str, str]]:
    """(reason, domain, metadata) of the first ErrorInfo in a serialized google.rpc.Status."""
    for num, any_bytes in _fields(status_bin):
        if num != 3 or not isinstance(any_bytes, bytes):
            continue
        any_fields = dict(_fields(any_bytes))
        if any_fields.get(1, b"").decode() != _ERROR_INFO_TYPE:
            continue
        reason = domain = ""
        metadata: dict[str, str] = {}
        for n, v in _fields(any_fields.get(2, b"")):
            if n == 1:
                reason = v.decode()
            elif n == 2:
                domain = v.decode()
            elif n == 3:
                entry = dict(_fields(v))
                metadata[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
        return reason, domain, metadata
    return "", "", {}


def error_from_rpc(err: grpc.RpcError) -> PgSyncError:
    """Converts a grpc.RpcError (a failed call) into a PgSyncError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    reason = domain = token = ""
    metadata: dict[str, str] = {}
    for key, value in trailers or ():
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            try:
                reason, domain, metadata = _error_info(value)
            except (ValueError, IndexError, UnicodeDecodeError):
                pass
        elif key == RESUME_TOKEN_TRAILER:
            token = value if isinstance(value, str) else value.decode()
    return PgSyncError(code or grpc.StatusCode.UNKNOWN, message or "", reason=reason, domain=domain, metadata=metadata, resume_token=token)
