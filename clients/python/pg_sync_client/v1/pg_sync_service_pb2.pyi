from pg_sync_client.v1 import consumer_group_pb2 as _consumer_group_pb2
from pg_sync_client.v1 import cursor_pb2 as _cursor_pb2
from pg_sync_client.v1 import source_pb2 as _source_pb2
from pg_sync_client.v1 import wake_pb2 as _wake_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterSourceRequest(_message.Message):
    __slots__ = ("options",)
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: _source_pb2.SourceOptions
    def __init__(self, options: _Optional[_Union[_source_pb2.SourceOptions, _Mapping]] = ...) -> None: ...

class RegisterSourceResponse(_message.Message):
    __slots__ = ("source_ref", "created", "source")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    created: bool
    source: _source_pb2.Source
    def __init__(self, source_ref: _Optional[str] = ..., created: _Optional[bool] = ..., source: _Optional[_Union[_source_pb2.Source, _Mapping]] = ...) -> None: ...

class GetSourceRequest(_message.Message):
    __slots__ = ("source_ref",)
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    def __init__(self, source_ref: _Optional[str] = ...) -> None: ...

class GetSourceResponse(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: _source_pb2.Source
    def __init__(self, source: _Optional[_Union[_source_pb2.Source, _Mapping]] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources", "next_page_token")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[_source_pb2.Source]
    next_page_token: str
    def __init__(self, sources: _Optional[_Iterable[_Union[_source_pb2.Source, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSourceRequest(_message.Message):
    __slots__ = ("source_ref",)
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    def __init__(self, source_ref: _Optional[str] = ...) -> None: ...

class DeleteSourceResponse(_message.Message):
    __slots__ = ("source_ref",)
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    def __init__(self, source_ref: _Optional[str] = ...) -> None: ...

class WatchWakesRequest(_message.Message):
    __slots__ = ("source_refs", "ops", "debounce_ms", "max_wait_ms", "max_changes_per_wake", "resume_token", "start_position", "heartbeat_interval_ms", "rebuild_after_gap")
    SOURCE_REFS_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    DEBOUNCE_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHANGES_PER_WAKE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    REBUILD_AFTER_GAP_FIELD_NUMBER: _ClassVar[int]
    source_refs: _containers.RepeatedScalarFieldContainer[str]
    ops: _containers.RepeatedScalarFieldContainer[_wake_pb2.Operation]
    debounce_ms: int
    max_wait_ms: int
    max_changes_per_wake: int
    resume_token: str
    start_position: _wake_pb2.StartPosition
    heartbeat_interval_ms: int
    rebuild_after_gap: bool
    def __init__(self, source_refs: _Optional[_Iterable[str]] = ..., ops: _Optional[_Iterable[_Union[_wake_pb2.Operation, str]]] = ..., debounce_ms: _Optional[int] = ..., max_wait_ms: _Optional[int] = ..., max_changes_per_wake: _Optional[int] = ..., resume_token: _Optional[str] = ..., start_position: _Optional[_Union[_wake_pb2.StartPosition, str]] = ..., heartbeat_interval_ms: _Optional[int] = ..., rebuild_after_gap: _Optional[bool] = ...) -> None: ...

class WatchWakesResponse(_message.Message):
    __slots__ = ("ready", "wake", "gap", "heartbeat", "status")
    READY_FIELD_NUMBER: _ClassVar[int]
    WAKE_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ready: _wake_pb2.Ready
    wake: _wake_pb2.Wake
    gap: _wake_pb2.Gap
    heartbeat: _wake_pb2.Heartbeat
    status: _wake_pb2.SourceStatus
    def __init__(self, ready: _Optional[_Union[_wake_pb2.Ready, _Mapping]] = ..., wake: _Optional[_Union[_wake_pb2.Wake, _Mapping]] = ..., gap: _Optional[_Union[_wake_pb2.Gap, _Mapping]] = ..., heartbeat: _Optional[_Union[_wake_pb2.Heartbeat, _Mapping]] = ..., status: _Optional[_Union[_wake_pb2.SourceStatus, _Mapping]] = ...) -> None: ...

class GetCursorRequest(_message.Message):
    __slots__ = ("source_ref",)
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    def __init__(self, source_ref: _Optional[str] = ...) -> None: ...

class GetCursorResponse(_message.Message):
    __slots__ = ("cursor",)
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    cursor: _cursor_pb2.Cursor
    def __init__(self, cursor: _Optional[_Union[_cursor_pb2.Cursor, _Mapping]] = ...) -> None: ...
