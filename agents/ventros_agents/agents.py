"""Builds the ADK agent tree for each catalog entry, with the configured model provider.

- `llm` → `LlmAgent` with the Ventros tools it is allowed to use;
- `sequential` → `SequentialAgent` over its parts (LeadQualifierAgent: extract facts → score → answer);
- `parallel` → `ParallelAgent` over its parts (ChurnPredictionAgent: sentiment ∥ engagement ∥ history);
- `coordinator` → `LlmAgent` with the specialists as sub-agents; its model transfers the
  conversation to one of them (RouterAgent).

Model providers, by `VENTROS_MODEL_PROVIDER`: `offline` (default, no network), `gemini` (the
Gemini API, needs `GOOGLE_API_KEY`; `GEMINI_BASE_URL` for another endpoint), `openai` (any
OpenAI-compatible endpoint: `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`; OpenAI, Ollama,
vLLM). With a real model the customer-facing agents answer with a structured output
(`structured.ModelAnswer`); `VENTROS_MODEL_TIMEOUT_S` (10) bounds each call and
`VENTROS_MODEL_RETRIES` (1) the retries of a rate limit or server error, after which the service
answers with the offline agents instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from google.adk.agents import BaseAgent, LlmAgent, ParallelAgent, SequentialAgent
from google.adk.models import BaseLlm
from google.adk.tools import FunctionTool

from . import replies
from .catalog import BY_TYPE, COORDINATOR, LLM, PARALLEL, SEQUENTIAL, AgentSpec
from .offline import FACT_PREDICATES, OfflineLlm
from .runtime import TOOL_FUNCTIONS
from .structured import ModelAnswer, instruction

OFFLINE, GEMINI, OPENAI = "offline", "gemini", "openai"


@dataclass(frozen=True)
class ProviderConfig:
    provider: str = OFFLINE
    model: str = ""
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 10.0
    retries: int = 1

    @classmethod
    def from_env(cls) -> ProviderConfig:
        provider = os.environ.get("VENTROS_MODEL_PROVIDER", OFFLINE).lower()
        timeout_s = float(os.environ.get("VENTROS_MODEL_TIMEOUT_S", "10"))
        retries = int(os.environ.get("VENTROS_MODEL_RETRIES", "1"))
        if provider == GEMINI:
            if not (os.environ.get("GOOGLE_API_KEY") or os.environ.get("GOOGLE_GENAI_USE_VERTEXAI")):
                raise ValueError("VENTROS_MODEL_PROVIDER=gemini needs GOOGLE_API_KEY (or Vertex AI settings)")
            return cls(
                GEMINI,
                os.environ.get("GEMINI_MODEL", "gemini-2.5-flash"),
                os.environ.get("GEMINI_BASE_URL"),
                timeout_s=timeout_s,
                retries=retries,
            )
        if provider == OPENAI:
            model = os.environ.get("OPENAI_MODEL")
            if not model:
                raise ValueError(
                    "VENTROS_MODEL_PROVIDER=openai needs OPENAI_MODEL (and OPENAI_BASE_URL for non-OpenAI hosts)"
                )
            return cls(
                OPENAI,
                model,
                os.environ.get("OPENAI_BASE_URL"),
                os.environ.get("OPENAI_API_KEY", "not-needed"),
                timeout_s=timeout_s,
                retries=retries,
            )
        if provider != OFFLINE:
            raise ValueError(f"unknown VENTROS_MODEL_PROVIDER {provider!r}: use offline, gemini or openai")
        return cls()


def _model(spec: AgentSpec, config: ProviderConfig) -> BaseLlm | str:
    if config.provider == OFFLINE:
        return OfflineLlm(agent_type=spec.type)
    if config.provider == GEMINI:
        from google.adk.models.google_llm import Gemini
        from google.genai import types

        # attempts counts the first call; the SDK backs off between them (429, 5xx).
        retry = types.HttpRetryOptions(attempts=config.retries + 1, initial_delay=0.5, max_delay=4.0)
        return Gemini(model=config.model, base_url=config.base_url, retry_options=retry)
    from google.adk.integrations.openai import OpenAILlm
    from openai import AsyncOpenAI

    # The client's own retries honour Retry-After on 429 and back off on 5xx and timeouts.
    client = AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.api_key,
        timeout=config.timeout_s,
        max_retries=config.retries,
    )
    return OpenAILlm(model=config.model, client=client)


def structured(spec: AgentSpec, config: ProviderConfig) -> bool:
    """Whether this agent answers customers with a structured output (a real model only)."""
    return config.provider != OFFLINE and spec.type in replies.TEMPLATES


def _instruction(spec: AgentSpec) -> str:
    if spec.type == "FactExtractionAgent":
        # A machine reads this answer (the memory service's graph), not a customer.
        return (
            "Extract durable facts the customer states about themselves in their message (first person only; "
            "ignore questions, hearsay and anything the company said). Answer ONLY with JSON of the form "
            '{"facts": [{"predicate": "...", "object": "..."}]} where predicate is one of '
            + ", ".join(FACT_PREDICATES)
            + ' and object is a short noun phrase in the customer\'s words. No facts: {"facts": []}.'
        )
    return (
        f"You are {spec.name}, an agent of a company's customer team on WhatsApp. {spec.description} "
        "Use the tools to read the customer's profile and history before answering. Answer in the customer's "
        "language, in at most three short sentences, without inventing facts. The customer's message was "
        "classified as topic '{topic?}'."
    )


def build(agent_type: str, config: ProviderConfig, _name_suffix: str = "") -> BaseAgent:
    """A fresh ADK agent tree for `agent_type` (ADK agents have one parent, so trees are not shared)."""
    spec = BY_TYPE[agent_type]
    name = spec.type + _name_suffix
    if spec.pattern == LLM:
        answers = structured(spec, config)
        return LlmAgent(
            name=name,
            description=spec.description,
            model=_model(spec, config),
            instruction=_instruction(spec) + (instruction() if answers else ""),
            tools=[FunctionTool(TOOL_FUNCTIONS[t]) for t in spec.tools],
            output_schema=ModelAnswer if answers else None,
            output_key=f"out_{spec.type}",
        )
    if spec.pattern == COORDINATOR:
        # Direct children keep their type as name: the coordinator transfers to them by name.
        return LlmAgent(
            name=name,
            description=spec.description,
            model=_model(spec, config),
            instruction=_instruction(spec)
            + " Transfer the conversation to the specialist who handles this topic.",
            sub_agents=[build(part, config) for part in spec.parts],
        )
    # Parts of a chain or fan-out get a suffix so names stay unique in a coordinator's tree.
    parts = [build(part, config, f"{_name_suffix}__{spec.type}") for part in spec.parts]
    if spec.pattern == SEQUENTIAL:
        return SequentialAgent(name=name, description=spec.description, sub_agents=parts)
    if spec.pattern == PARALLEL:
        return ParallelAgent(name=name, description=spec.description, sub_agents=parts)
    raise ValueError(f"unknown pattern {spec.pattern}")
