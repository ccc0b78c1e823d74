import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemorySearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_SEARCH_MODE_UNSPECIFIED: _ClassVar[MemorySearchMode]
    HYBRID: _ClassVar[MemorySearchMode]
    VECTOR_ONLY: _ClassVar[MemorySearchMode]
    KEYWORD_ONLY: _ClassVar[MemorySearchMode]
    GRAPH_ONLY: _ClassVar[MemorySearchMode]
MEMORY_SEARCH_MODE_UNSPECIFIED: MemorySearchMode
HYBRID: MemorySearchMode
VECTOR_ONLY: MemorySearchMode
KEYWORD_ONLY: MemorySearchMode
GRAPH_ONLY: MemorySearchMode

class KnowledgeSearchRequest(_message.Message):
    __slots__ = ("tenant_id", "query", "limit")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    query: str
    limit: int
    def __init__(self, tenant_id: _Optional[str] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class KnowledgeSearchResponse(_message.Message):
    __slots__ = ("passages",)
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    passages: _containers.RepeatedCompositeFieldContainer[KnowledgePassage]
    def __init__(self, passages: _Optional[_Iterable[_Union[KnowledgePassage, _Mapping]]] = ...) -> None: ...

class KnowledgePassage(_message.Message):
    __slots__ = ("id", "document_id", "document_title", "heading", "content", "fields", "score", "similarity", "keyword_match", "keyword_coverage")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    HEADING_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_MATCH_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    document_id: str
    document_title: str
    heading: str
    content: str
    fields: _containers.ScalarMap[str, str]
    score: float
    similarity: float
    keyword_match: bool
    keyword_coverage: float
    def __init__(self, id: _Optional[str] = ..., document_id: _Optional[str] = ..., document_title: _Optional[str] = ..., heading: _Optional[str] = ..., content: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ..., score: _Optional[float] = ..., similarity: _Optional[float] = ..., keyword_match: _Optional[bool] = ..., keyword_coverage: _Optional[float] = ...) -> None: ...

class MemorySearchRequest(_message.Message):
    __slots__ = ("contact_id", "query", "limit", "memory_types", "mode", "tenant_id", "request_id", "as_of", "weights", "include_embeddings")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    query: str
    limit: int
    memory_types: _containers.RepeatedScalarFieldContainer[str]
    mode: MemorySearchMode
    tenant_id: str
    request_id: str
    as_of: _timestamp_pb2.Timestamp
    weights: HybridWeights
    include_embeddings: bool
    def __init__(self, contact_id: _Optional[str] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ..., memory_types: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[MemorySearchMode, str]] = ..., tenant_id: _Optional[str] = ..., request_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., weights: _Optional[_Union[HybridWeights, _Mapping]] = ..., include_embeddings: _Optional[bool] = ...) -> None: ...

class HybridWeights(_message.Message):
    __slots__ = ("vector", "keyword", "graph")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    vector: float
    keyword: float
    graph: float
    def __init__(self, vector: _Optional[float] = ..., keyword: _Optional[float] = ..., graph: _Optional[float] = ...) -> None: ...

class MemorySearchResponse(_message.Message):
    __slots__ = ("memories", "search_latency_ms", "total_count")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[Memory]
    search_latency_ms: float
    total_count: int
    def __init__(self, memories: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ..., search_latency_ms: _Optional[float] = ..., total_count: _Optional[int] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("id", "content", "memory_type", "relevance_score", "created_at", "embedding", "metadata", "valid_from", "valid_until", "sources")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    RELEVANCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    id: str
    content: str
    memory_type: str
    relevance_score: float
    created_at: _timestamp_pb2.Timestamp
    embedding: _containers.RepeatedScalarFieldContainer[float]
    metadata: _containers.ScalarMap[str, str]
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., content: _Optional[str] = ..., memory_type: _Optional[str] = ..., relevance_score: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sources: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactContextRequest(_message.Message):
    __slots__ = ("contact_id", "include_graph", "history_limit", "tenant_id", "request_id")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_GRAPH_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    include_graph: bool
    history_limit: int
    tenant_id: str
    request_id: str
    def __init__(self, contact_id: _Optional[str] = ..., include_graph: _Optional[bool] = ..., history_limit: _Optional[int] = ..., tenant_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ContactContextResponse(_message.Message):
    __slots__ = ("profile", "recent_memories", "recent_messages", "knowledge_graph", "stats")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RECENT_MEMORIES_FIELD_NUMBER: _ClassVar[int]
    RECENT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_GRAPH_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    profile: ContactProfile
    recent_memories: _containers.RepeatedCompositeFieldContainer[Memory]
    recent_messages: _containers.RepeatedCompositeFieldContainer[Message]
    knowledge_graph: Graph
    stats: ContactStats
    def __init__(self, profile: _Optional[_Union[ContactProfile, _Mapping]] = ..., recent_memories: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ..., recent_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., knowledge_graph: _Optional[_Union[Graph, _Mapping]] = ..., stats: _Optional[_Union[ContactStats, _Mapping]] = ...) -> None: ...

class ContactProfile(_message.Message):
    __slots__ = ("contact_id", "display_name", "custom_attributes", "tags", "channels", "created_at")
    class CustomAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    display_name: str
    custom_attributes: _containers.ScalarMap[str, str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    channels: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, contact_id: _Optional[str] = ..., display_name: _Optional[str] = ..., custom_attributes: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Iterable[str]] = ..., channels: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "direction", "text", "sent_at", "channel_id", "intent")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    direction: str
    text: str
    sent_at: _timestamp_pb2.Timestamp
    channel_id: str
    intent: str
    def __init__(self, id: _Optional[str] = ..., direction: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel_id: _Optional[str] = ..., intent: _Optional[str] = ...) -> None: ...

class Graph(_message.Message):
    __slots__ = ("entities", "relations")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    relations: _containers.RepeatedCompositeFieldContainer[Relation]
    def __init__(self, entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., relations: _Optional[_Iterable[_Union[Relation, _Mapping]]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("id", "name", "entity_type", "attributes", "summary")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    entity_type: str
    attributes: _containers.ScalarMap[str, str]
    summary: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., entity_type: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., summary: _Optional[str] = ...) -> None: ...

class Relation(_message.Message):
    __slots__ = ("source_id", "target_id", "relation_type", "valid_from", "valid_until", "id", "fact", "created_at", "expired_at", "sources")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    RELATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    FACT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_id: str
    relation_type: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    id: str
    fact: str
    created_at: _timestamp_pb2.Timestamp
    expired_at: _timestamp_pb2.Timestamp
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, source_id: _Optional[str] = ..., target_id: _Optional[str] = ..., relation_type: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[str] = ..., fact: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sources: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactStats(_message.Message):
    __slots__ = ("total_messages", "inbound_messages", "outbound_messages", "sessions", "first_seen", "last_seen", "open_deals")
    TOTAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    INBOUND_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    OPEN_DEALS_FIELD_NUMBER: _ClassVar[int]
    total_messages: int
    inbound_messages: int
    outbound_messages: int
    sessions: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    open_deals: int
    def __init__(self, total_messages: _Optional[int] = ..., inbound_messages: _Optional[int] = ..., outbound_messages: _Optional[int] = ..., sessions: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_deals: _Optional[int] = ...) -> None: ...

class StoreMemoryRequest(_message.Message):
    __slots__ = ("contact_id", "content", "memory_type", "metadata", "tenant_id", "idempotency_key")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    content: str
    memory_type: str
    metadata: _containers.ScalarMap[str, str]
    tenant_id: str
    idempotency_key: str
    def __init__(self, contact_id: _Optional[str] = ..., content: _Optional[str] = ..., memory_type: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., tenant_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class StoreMemoryResponse(_message.Message):
    __slots__ = ("memory_id", "created")
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    created: bool
    def __init__(self, memory_id: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class RelatedEntitiesRequest(_message.Message):
    __slots__ = ("contact_id", "entity_type", "depth", "tenant_id", "as_of", "include_history")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    entity_type: str
    depth: int
    tenant_id: str
    as_of: _timestamp_pb2.Timestamp
    include_history: bool
    def __init__(self, contact_id: _Optional[str] = ..., entity_type: _Optional[str] = ..., depth: _Optional[int] = ..., tenant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., include_history: _Optional[bool] = ...) -> None: ...

class RelatedEntitiesResponse(_message.Message):
    __slots__ = ("graph",)
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    graph: Graph
    def __init__(self, graph: _Optional[_Union[Graph, _Mapping]] = ...) -> None: ...
