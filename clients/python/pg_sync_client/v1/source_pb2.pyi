import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Replica(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLICA_UNSPECIFIED: _ClassVar[Replica]
    REPLICA_DEFAULT: _ClassVar[Replica]
    REPLICA_FULL: _ClassVar[Replica]

class SourceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_STATE_UNSPECIFIED: _ClassVar[SourceState]
    SOURCE_STATE_STARTING: _ClassVar[SourceState]
    SOURCE_STATE_LIVE: _ClassVar[SourceState]
    SOURCE_STATE_BACKING_OFF: _ClassVar[SourceState]
    SOURCE_STATE_FAILED: _ClassVar[SourceState]
    SOURCE_STATE_IDLE: _ClassVar[SourceState]
    SOURCE_STATE_STOPPED: _ClassVar[SourceState]
REPLICA_UNSPECIFIED: Replica
REPLICA_DEFAULT: Replica
REPLICA_FULL: Replica
SOURCE_STATE_UNSPECIFIED: SourceState
SOURCE_STATE_STARTING: SourceState
SOURCE_STATE_LIVE: SourceState
SOURCE_STATE_BACKING_OFF: SourceState
SOURCE_STATE_FAILED: SourceState
SOURCE_STATE_IDLE: SourceState
SOURCE_STATE_STOPPED: SourceState

class SourceOptions(_message.Message):
    __slots__ = ("url", "table", "columns", "where", "positional_params", "named_params", "replica", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    URL_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    POSITIONAL_PARAMS_FIELD_NUMBER: _ClassVar[int]
    NAMED_PARAMS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    url: str
    table: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    where: str
    positional_params: PositionalParams
    named_params: NamedParams
    replica: Replica
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, url: _Optional[str] = ..., table: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., where: _Optional[str] = ..., positional_params: _Optional[_Union[PositionalParams, _Mapping]] = ..., named_params: _Optional[_Union[NamedParams, _Mapping]] = ..., replica: _Optional[_Union[Replica, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PositionalParams(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class NamedParams(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, str]
    def __init__(self, values: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("source_ref", "options", "state", "last_error", "create_time", "register_time", "watch_time", "update_time", "shape_url")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_URL_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    options: SourceOptions
    state: SourceState
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    register_time: _timestamp_pb2.Timestamp
    watch_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    shape_url: str
    def __init__(self, source_ref: _Optional[str] = ..., options: _Optional[_Union[SourceOptions, _Mapping]] = ..., state: _Optional[_Union[SourceState, str]] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., watch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shape_url: _Optional[str] = ...) -> None: ...
