import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pg_sync_client.v1 import source_pb2 as _source_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_UNSPECIFIED: _ClassVar[Operation]
    OPERATION_INSERT: _ClassVar[Operation]
    OPERATION_UPDATE: _ClassVar[Operation]
    OPERATION_DELETE: _ClassVar[Operation]

class StartPosition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    START_POSITION_UNSPECIFIED: _ClassVar[StartPosition]
    START_POSITION_NOW: _ClassVar[StartPosition]
    START_POSITION_EARLIEST: _ClassVar[StartPosition]
    START_POSITION_SNAPSHOT: _ClassVar[StartPosition]

class GapReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GAP_REASON_UNSPECIFIED: _ClassVar[GapReason]
    GAP_REASON_MUST_REFETCH: _ClassVar[GapReason]
    GAP_REASON_RETENTION: _ClassVar[GapReason]
    GAP_REASON_SOURCE_RESET: _ClassVar[GapReason]
OPERATION_UNSPECIFIED: Operation
OPERATION_INSERT: Operation
OPERATION_UPDATE: Operation
OPERATION_DELETE: Operation
START_POSITION_UNSPECIFIED: StartPosition
START_POSITION_NOW: StartPosition
START_POSITION_EARLIEST: StartPosition
START_POSITION_SNAPSHOT: StartPosition
GAP_REASON_UNSPECIFIED: GapReason
GAP_REASON_MUST_REFETCH: GapReason
GAP_REASON_RETENTION: GapReason
GAP_REASON_SOURCE_RESET: GapReason

class Change(_message.Message):
    __slots__ = ("key", "operation", "value", "old_value", "offset", "seq", "table", "txids", "snapshot")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TXIDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    key: str
    operation: Operation
    value: _struct_pb2.Struct
    old_value: _struct_pb2.Struct
    offset: str
    seq: int
    table: str
    txids: _containers.RepeatedScalarFieldContainer[int]
    snapshot: bool
    def __init__(self, key: _Optional[str] = ..., operation: _Optional[_Union[Operation, str]] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., old_value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., offset: _Optional[str] = ..., seq: _Optional[int] = ..., table: _Optional[str] = ..., txids: _Optional[_Iterable[int]] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class Wake(_message.Message):
    __slots__ = ("wake_id", "source_ref", "changes", "resume_token", "first_seq", "last_seq", "snapshot")
    WAKE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    wake_id: str
    source_ref: str
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    resume_token: str
    first_seq: int
    last_seq: int
    snapshot: bool
    def __init__(self, wake_id: _Optional[str] = ..., source_ref: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ..., resume_token: _Optional[str] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class SourcePosition(_message.Message):
    __slots__ = ("source_ref", "seq")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    seq: int
    def __init__(self, source_ref: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class Ready(_message.Message):
    __slots__ = ("positions", "resume_token")
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[SourcePosition]
    resume_token: str
    def __init__(self, positions: _Optional[_Iterable[_Union[SourcePosition, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("source_ref", "reason", "from_seq", "to_seq", "detail", "resume_token", "rebuild")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REBUILD_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    reason: GapReason
    from_seq: int
    to_seq: int
    detail: str
    resume_token: str
    rebuild: bool
    def __init__(self, source_ref: _Optional[str] = ..., reason: _Optional[_Union[GapReason, str]] = ..., from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., detail: _Optional[str] = ..., resume_token: _Optional[str] = ..., rebuild: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("resume_token", "time")
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    resume_token: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, resume_token: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SourceStatus(_message.Message):
    __slots__ = ("source_ref", "state", "deleted", "reason", "resume_token")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    state: _source_pb2.SourceState
    deleted: bool
    reason: str
    resume_token: str
    def __init__(self, source_ref: _Optional[str] = ..., state: _Optional[_Union[_source_pb2.SourceState, str]] = ..., deleted: _Optional[bool] = ..., reason: _Optional[str] = ..., resume_token: _Optional[str] = ...) -> None: ...
