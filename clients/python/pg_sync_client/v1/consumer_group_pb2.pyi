import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pg_sync_client.v1 import wake_pb2 as _wake_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Ordering(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDERING_UNSPECIFIED: _ClassVar[Ordering]
    ORDERING_SOURCE: _ClassVar[Ordering]
    ORDERING_KEY: _ClassVar[Ordering]
    ORDERING_NONE: _ClassVar[Ordering]

class SettleStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLE_STATUS_UNSPECIFIED: _ClassVar[SettleStatus]
    SETTLE_STATUS_ACKNOWLEDGED: _ClassVar[SettleStatus]
    SETTLE_STATUS_RELEASED: _ClassVar[SettleStatus]
    SETTLE_STATUS_DEAD_LETTERED: _ClassVar[SettleStatus]
    SETTLE_STATUS_REDRIVEN: _ClassVar[SettleStatus]
    SETTLE_STATUS_DISCARDED: _ClassVar[SettleStatus]
    SETTLE_STATUS_ALREADY_ACKNOWLEDGED: _ClassVar[SettleStatus]
    SETTLE_STATUS_STALE: _ClassVar[SettleStatus]
    SETTLE_STATUS_UNKNOWN: _ClassVar[SettleStatus]
ORDERING_UNSPECIFIED: Ordering
ORDERING_SOURCE: Ordering
ORDERING_KEY: Ordering
ORDERING_NONE: Ordering
SETTLE_STATUS_UNSPECIFIED: SettleStatus
SETTLE_STATUS_ACKNOWLEDGED: SettleStatus
SETTLE_STATUS_RELEASED: SettleStatus
SETTLE_STATUS_DEAD_LETTERED: SettleStatus
SETTLE_STATUS_REDRIVEN: SettleStatus
SETTLE_STATUS_DISCARDED: SettleStatus
SETTLE_STATUS_ALREADY_ACKNOWLEDGED: SettleStatus
SETTLE_STATUS_STALE: SettleStatus
SETTLE_STATUS_UNKNOWN: SettleStatus

class ConsumeWakesRequest(_message.Message):
    __slots__ = ("group", "source_refs", "ops", "debounce_ms", "max_wait_ms", "max_changes_per_wake", "max_in_flight", "ack_timeout_ms", "max_deliveries", "start_position", "ordering", "heartbeat_interval_ms", "member_name")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REFS_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    DEBOUNCE_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHANGES_PER_WAKE_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    ACK_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    ORDERING_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_NAME_FIELD_NUMBER: _ClassVar[int]
    group: str
    source_refs: _containers.RepeatedScalarFieldContainer[str]
    ops: _containers.RepeatedScalarFieldContainer[_wake_pb2.Operation]
    debounce_ms: int
    max_wait_ms: int
    max_changes_per_wake: int
    max_in_flight: int
    ack_timeout_ms: int
    max_deliveries: int
    start_position: _wake_pb2.StartPosition
    ordering: Ordering
    heartbeat_interval_ms: int
    member_name: str
    def __init__(self, group: _Optional[str] = ..., source_refs: _Optional[_Iterable[str]] = ..., ops: _Optional[_Iterable[_Union[_wake_pb2.Operation, str]]] = ..., debounce_ms: _Optional[int] = ..., max_wait_ms: _Optional[int] = ..., max_changes_per_wake: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., ack_timeout_ms: _Optional[int] = ..., max_deliveries: _Optional[int] = ..., start_position: _Optional[_Union[_wake_pb2.StartPosition, str]] = ..., ordering: _Optional[_Union[Ordering, str]] = ..., heartbeat_interval_ms: _Optional[int] = ..., member_name: _Optional[str] = ...) -> None: ...

class ConsumeWakesResponse(_message.Message):
    __slots__ = ("ready", "delivery", "gap", "heartbeat")
    READY_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ready: ConsumeReady
    delivery: Delivery
    gap: GapDelivery
    heartbeat: _wake_pb2.Heartbeat
    def __init__(self, ready: _Optional[_Union[ConsumeReady, _Mapping]] = ..., delivery: _Optional[_Union[Delivery, _Mapping]] = ..., gap: _Optional[_Union[GapDelivery, _Mapping]] = ..., heartbeat: _Optional[_Union[_wake_pb2.Heartbeat, _Mapping]] = ...) -> None: ...

class ConsumeReady(_message.Message):
    __slots__ = ("member_id", "settings")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    settings: ConsumerGroupSettings
    def __init__(self, member_id: _Optional[str] = ..., settings: _Optional[_Union[ConsumerGroupSettings, _Mapping]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "attempt", "ack_deadline", "wake")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ACK_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    WAKE_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    attempt: int
    ack_deadline: _timestamp_pb2.Timestamp
    wake: _wake_pb2.Wake
    def __init__(self, delivery_id: _Optional[str] = ..., attempt: _Optional[int] = ..., ack_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wake: _Optional[_Union[_wake_pb2.Wake, _Mapping]] = ...) -> None: ...

class GapDelivery(_message.Message):
    __slots__ = ("delivery_id", "attempt", "ack_deadline", "gap")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ACK_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    attempt: int
    ack_deadline: _timestamp_pb2.Timestamp
    gap: _wake_pb2.Gap
    def __init__(self, delivery_id: _Optional[str] = ..., attempt: _Optional[int] = ..., ack_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gap: _Optional[_Union[_wake_pb2.Gap, _Mapping]] = ...) -> None: ...

class AckWakesRequest(_message.Message):
    __slots__ = ("group", "delivery_ids")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_IDS_FIELD_NUMBER: _ClassVar[int]
    group: str
    delivery_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., delivery_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AckWakesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class NackWakesRequest(_message.Message):
    __slots__ = ("group", "delivery_ids", "retry_after_ms", "error")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_IDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    group: str
    delivery_ids: _containers.RepeatedScalarFieldContainer[str]
    retry_after_ms: int
    error: str
    def __init__(self, group: _Optional[str] = ..., delivery_ids: _Optional[_Iterable[str]] = ..., retry_after_ms: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class NackWakesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResult, _Mapping]]] = ...) -> None: ...

class SettleResult(_message.Message):
    __slots__ = ("delivery_id", "status")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    status: SettleStatus
    def __init__(self, delivery_id: _Optional[str] = ..., status: _Optional[_Union[SettleStatus, str]] = ...) -> None: ...

class GetConsumerGroupRequest(_message.Message):
    __slots__ = ("group", "dead_letter_limit")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    group: str
    dead_letter_limit: int
    def __init__(self, group: _Optional[str] = ..., dead_letter_limit: _Optional[int] = ...) -> None: ...

class GetConsumerGroupResponse(_message.Message):
    __slots__ = ("group", "dead_letters")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    group: ConsumerGroup
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    def __init__(self, group: _Optional[_Union[ConsumerGroup, _Mapping]] = ..., dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ...) -> None: ...

class DeleteConsumerGroupRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class DeleteConsumerGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class ConsumerGroupSettings(_message.Message):
    __slots__ = ("ops", "debounce_ms", "max_wait_ms", "max_changes_per_wake", "ack_timeout_ms", "max_deliveries", "ordering")
    OPS_FIELD_NUMBER: _ClassVar[int]
    DEBOUNCE_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHANGES_PER_WAKE_FIELD_NUMBER: _ClassVar[int]
    ACK_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    ORDERING_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedScalarFieldContainer[_wake_pb2.Operation]
    debounce_ms: int
    max_wait_ms: int
    max_changes_per_wake: int
    ack_timeout_ms: int
    max_deliveries: int
    ordering: Ordering
    def __init__(self, ops: _Optional[_Iterable[_Union[_wake_pb2.Operation, str]]] = ..., debounce_ms: _Optional[int] = ..., max_wait_ms: _Optional[int] = ..., max_changes_per_wake: _Optional[int] = ..., ack_timeout_ms: _Optional[int] = ..., max_deliveries: _Optional[int] = ..., ordering: _Optional[_Union[Ordering, str]] = ...) -> None: ...

class ConsumerGroup(_message.Message):
    __slots__ = ("group", "settings", "create_time", "sources", "members")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    group: str
    settings: ConsumerGroupSettings
    create_time: _timestamp_pb2.Timestamp
    sources: _containers.RepeatedCompositeFieldContainer[ConsumerGroupSource]
    members: _containers.RepeatedCompositeFieldContainer[ConsumerGroupMember]
    def __init__(self, group: _Optional[str] = ..., settings: _Optional[_Union[ConsumerGroupSettings, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sources: _Optional[_Iterable[_Union[ConsumerGroupSource, _Mapping]]] = ..., members: _Optional[_Iterable[_Union[ConsumerGroupMember, _Mapping]]] = ...) -> None: ...

class ConsumerGroupSource(_message.Message):
    __slots__ = ("source_ref", "acknowledged_seq", "delivered_seq", "pending_count", "in_flight_count", "dead_letter_count")
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_SEQ_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_SEQ_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_COUNT_FIELD_NUMBER: _ClassVar[int]
    source_ref: str
    acknowledged_seq: int
    delivered_seq: int
    pending_count: int
    in_flight_count: int
    dead_letter_count: int
    def __init__(self, source_ref: _Optional[str] = ..., acknowledged_seq: _Optional[int] = ..., delivered_seq: _Optional[int] = ..., pending_count: _Optional[int] = ..., in_flight_count: _Optional[int] = ..., dead_letter_count: _Optional[int] = ...) -> None: ...

class ConsumerGroupMember(_message.Message):
    __slots__ = ("member_id", "member_name", "in_flight_count", "connect_time")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_NAME_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    member_name: str
    in_flight_count: int
    connect_time: _timestamp_pb2.Timestamp
    def __init__(self, member_id: _Optional[str] = ..., member_name: _Optional[str] = ..., in_flight_count: _Optional[int] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("delivery_id", "source_ref", "wake_id", "first_seq", "last_seq", "attempts", "last_error", "dead_time")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    WAKE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    DEAD_TIME_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    source_ref: str
    wake_id: str
    first_seq: int
    last_seq: int
    attempts: int
    last_error: str
    dead_time: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., source_ref: _Optional[str] = ..., wake_id: _Optional[str] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., dead_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
