"""How to reach and use the LLM server: read once from settings, handed to the client."""

from __future__ import annotations

from dataclasses import dataclass, field

from swe_fleet.retrying import Backoff
from swe_fleet.settings import FleetSettings


@dataclass(frozen=True)
class RetryPolicy:
    """Transport retries of one call: first_delay, x2 each time, capped at max_delay (the fleet's
    one `Backoff`, named in the LLM's own terms)."""

    max_attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    @property
    def backoff(self) -> Backoff:
        return Backoff(first=self.first_delay, maximum=self.max_delay, attempts=self.max_attempts)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2, 3, ...)."""
        return self.backoff.delay(attempt - 1)


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    default_model: str = "gemma-3-270m"
    models_by_role: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 120.0
    concurrency: int = 4
    max_tokens: int = 384
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # auto: json_schema first, downgraded to json_object (then none) if the server refuses it.
    structured_output: str = "auto"
    api_key: str | None = None

    def model_for(self, role: str | None) -> str:
        if role is not None:
            return self.models_by_role.get(str(role), self.default_model)
        return self.default_model

    @classmethod
    def from_settings(cls, settings: FleetSettings, base_url: str | None = None) -> LlmConfig:
        return cls(
            base_url=(base_url or settings.resolved_llm_url).rstrip("/"),
            default_model=settings.llm_model,
            models_by_role={key.upper(): value for key, value in settings.llm_models_by_role.items()},
            timeout_seconds=settings.llm_timeout_seconds,
            concurrency=settings.llm_concurrency,
            max_tokens=settings.llm_max_tokens,
            retry=RetryPolicy(max_attempts=settings.llm_max_attempts),
            structured_output=settings.llm_structured_output,
        )
