import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pg_sync_client.v1 import source_pb2 as _source_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_MODE_UNSPECIFIED: _ClassVar[LogMode]
    LOG_MODE_FULL: _ClassVar[LogMode]
    LOG_MODE_CHANGES_ONLY: _ClassVar[LogMode]
LOG_MODE_UNSPECIFIED: LogMode
LOG_MODE_FULL: LogMode
LOG_MODE_CHANGES_ONLY: LogMode

class Cursor(_message.Message):
    __slots__ = ("source_ref", "shape_handle", "shape_offset", "log_mode", "head_seq", "tail_seq", "state", "last_error", "up_to_date_time", "update_time", "generation", "owner", "lease_expire_time")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    SHAPE_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LOG_MODE_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    TAIL_SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    UP_TO_DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    shape_handle: str
    shape_offset: str
    log_mode: LogMode
    head_seq: int
    tail_seq: int
    state: _source_pb2.SourceState
    last_error: str
    up_to_date_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    generation: int
    owner: str
    lease_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, source_ref: _Optional[str] = ..., shape_handle: _Optional[str] = ..., shape_offset: _Optional[str] = ..., log_mode: _Optional[_Union[LogMode, str]] = ..., head_seq: _Optional[int] = ..., tail_seq: _Optional[int] = ..., state: _Optional[_Union[_source_pb2.SourceState, str]] = ..., last_error: _Optional[str] = ..., up_to_date_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., owner: _Optional[str] = ..., lease_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
