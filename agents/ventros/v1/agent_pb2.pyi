from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_TYPE_UNSPECIFIED: _ClassVar[ActionType]
    ACTION_TYPE_CREATE_LEAD: _ClassVar[ActionType]
    ACTION_TYPE_UPDATE_PIPELINE: _ClassVar[ActionType]
    ACTION_TYPE_HANDOFF_TO_HUMAN: _ClassVar[ActionType]
    ACTION_TYPE_TAG_CONTACT: _ClassVar[ActionType]
    ACTION_TYPE_OPEN_TICKET: _ClassVar[ActionType]
    ACTION_TYPE_SCHEDULE_FOLLOW_UP: _ClassVar[ActionType]
ACTION_TYPE_UNSPECIFIED: ActionType
ACTION_TYPE_CREATE_LEAD: ActionType
ACTION_TYPE_UPDATE_PIPELINE: ActionType
ACTION_TYPE_HANDOFF_TO_HUMAN: ActionType
ACTION_TYPE_TAG_CONTACT: ActionType
ACTION_TYPE_OPEN_TICKET: ActionType
ACTION_TYPE_SCHEDULE_FOLLOW_UP: ActionType

class AgentListResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentInfo]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentInfo, _Mapping]]] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("type", "name", "description", "capabilities", "avg_latency_ms", "pattern", "executions")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    AVG_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    type: str
    name: str
    description: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    avg_latency_ms: int
    pattern: str
    executions: int
    def __init__(self, type: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., avg_latency_ms: _Optional[int] = ..., pattern: _Optional[str] = ..., executions: _Optional[int] = ...) -> None: ...

class AgentRequest(_message.Message):
    __slots__ = ("agent_type", "tenant_id")
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_type: str
    tenant_id: str
    def __init__(self, agent_type: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class AgentCapabilitiesResponse(_message.Message):
    __slots__ = ("agent", "tools", "intents", "suggested_actions", "model_provider")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    INTENTS_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    agent: AgentInfo
    tools: _containers.RepeatedScalarFieldContainer[str]
    intents: _containers.RepeatedScalarFieldContainer[str]
    suggested_actions: _containers.RepeatedScalarFieldContainer[str]
    model_provider: str
    def __init__(self, agent: _Optional[_Union[AgentInfo, _Mapping]] = ..., tools: _Optional[_Iterable[str]] = ..., intents: _Optional[_Iterable[str]] = ..., suggested_actions: _Optional[_Iterable[str]] = ..., model_provider: _Optional[str] = ...) -> None: ...

class AgentExecutionRequest(_message.Message):
    __slots__ = ("agent_type", "contact_id", "message", "channel_id", "context", "tenant_id", "request_id", "session_id")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    agent_type: str
    contact_id: str
    message: str
    channel_id: str
    context: _containers.ScalarMap[str, str]
    tenant_id: str
    request_id: str
    session_id: str
    def __init__(self, agent_type: _Optional[str] = ..., contact_id: _Optional[str] = ..., message: _Optional[str] = ..., channel_id: _Optional[str] = ..., context: _Optional[_Mapping[str, str]] = ..., tenant_id: _Optional[str] = ..., request_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class AgentExecutionResponse(_message.Message):
    __slots__ = ("response", "intent", "confidence", "suggested_actions", "metadata", "latency_ms", "agent_type", "request_id", "actions")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    response: str
    intent: str
    confidence: float
    suggested_actions: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    latency_ms: int
    agent_type: str
    request_id: str
    actions: _containers.RepeatedCompositeFieldContainer[SuggestedAction]
    def __init__(self, response: _Optional[str] = ..., intent: _Optional[str] = ..., confidence: _Optional[float] = ..., suggested_actions: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., latency_ms: _Optional[int] = ..., agent_type: _Optional[str] = ..., request_id: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[SuggestedAction, _Mapping]]] = ...) -> None: ...

class SuggestedAction(_message.Message):
    __slots__ = ("params", "reason", "type")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    params: _containers.ScalarMap[str, str]
    reason: str
    type: ActionType
    def __init__(self, params: _Optional[_Mapping[str, str]] = ..., reason: _Optional[str] = ..., type: _Optional[_Union[ActionType, str]] = ...) -> None: ...

class AgentStreamResponse(_message.Message):
    __slots__ = ("text_chunk", "final")
    TEXT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    text_chunk: str
    final: AgentExecutionResponse
    def __init__(self, text_chunk: _Optional[str] = ..., final: _Optional[_Union[AgentExecutionResponse, _Mapping]] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...
