"""Suggested action types, read from the proto's `ActionType` enum (the one definition, shared with
the Rust worker that executes them). Inside the service an action type is the enum value; on the
wire's string fields, in the registry and in stored runs it is the lowercase name without the
prefix ("create_lead")."""

from __future__ import annotations

from typing import TypeAlias, cast

from ventros.v1 import agent_pb2

ActionType: TypeAlias = agent_pb2.ActionType

CREATE_LEAD: ActionType = agent_pb2.ACTION_TYPE_CREATE_LEAD
UPDATE_PIPELINE: ActionType = agent_pb2.ACTION_TYPE_UPDATE_PIPELINE
HANDOFF: ActionType = agent_pb2.ACTION_TYPE_HANDOFF_TO_HUMAN
TAG_CONTACT: ActionType = agent_pb2.ACTION_TYPE_TAG_CONTACT
OPEN_TICKET: ActionType = agent_pb2.ACTION_TYPE_OPEN_TICKET
SCHEDULE_FOLLOW_UP: ActionType = agent_pb2.ACTION_TYPE_SCHEDULE_FOLLOW_UP

_PREFIX = "ACTION_TYPE_"


def name(action: ActionType) -> str:
    """`create_lead` for ACTION_TYPE_CREATE_LEAD."""
    return agent_pb2.ActionType.Name(action).removeprefix(_PREFIX).lower()


def from_name(text: str) -> ActionType:
    """The inverse of `name`; ValueError for a name the proto does not define."""
    return cast(ActionType, agent_pb2.ActionType.Value(_PREFIX + text.upper()))


ALL: tuple[ActionType, ...] = tuple(cast(ActionType, v) for v in agent_pb2.ActionType.values() if v != 0)
