"""How much a council costs over one agent on a given LLM server: N concurrent completions vs one alone.

    result = await measure_parallel_cost(client, agents=3, completion_tokens=128)
    result.ratio  # wall time of N concurrent completions / wall time of one (1.0 = free parallelism)

Every completion is the same size (a prompt of about `prompt_words` words, exactly
`completion_tokens` tokens out: `ignore_eos` on llama.cpp and vLLM), and each agent's prompt is
distinct, as a council's are, so no answer is served from another's prompt cache. Used by
`bench/llm_parallel.py` (server flag sweeps) and the orchestrator benchmark.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.completion import ChatMessage


@dataclass(frozen=True)
class ParallelCost:
    agents: int
    completion_tokens: int
    prompt_tokens: int
    alone_seconds: list[float] = field(default_factory=list)
    together_seconds: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median wall time of `agents` concurrent completions over the median of one alone."""
        return statistics.median(self.together_seconds) / statistics.median(self.alone_seconds)

    @property
    def tokens_per_second_alone(self) -> float:
        return self.completion_tokens / statistics.median(self.alone_seconds)

    @property
    def tokens_per_second_together(self) -> float:
        return self.agents * self.completion_tokens / statistics.median(self.together_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio": round(self.ratio, 3),
            "tokens_per_second_alone": round(self.tokens_per_second_alone, 1),
            "tokens_per_second_together": round(self.tokens_per_second_together, 1),
        }


def agent_prompt(agent: int, prompt_words: int) -> list[ChatMessage]:
    """The same length for every agent number from 10 to 99; distinct from its first tokens on."""
    filler = " ".join(
        f"Context line {n} about the rate limiter and its limits." for n in range(prompt_words // 9)
    )
    return [
        ChatMessage("system", f"Agent {agent:02d}: you are one of a council of software architects."),
        ChatMessage("user", f"{filler}\nPropose a design for the rate limiter, with steps and risks."),
    ]


async def _complete(
    client: LlmClient, agent: int, prompt_words: int, completion_tokens: int
) -> tuple[int, int]:
    completion = await client.complete(
        agent_prompt(agent, prompt_words),
        max_tokens=completion_tokens,
        temperature=0.7,
        extra={"ignore_eos": True},  # every answer exactly completion_tokens long
    )
    return completion.prompt_tokens, completion.completion_tokens


async def measure_parallel_cost(
    client: LlmClient,
    *,
    agents: int = 3,
    completion_tokens: int = 128,
    prompt_words: int = 90,
    repeats: int = 3,
) -> ParallelCost:
    """Alternate one-alone and `agents`-together rounds (`repeats` each) after one warm-up round."""
    await _complete(client, 99, prompt_words, 8)  # warm-up: pages in the weights
    alone, together = [], []
    prompt_tokens = 0
    for round_number in range(repeats):
        base = 10 + round_number * (agents + 1)  # fresh prompts every round: nothing comes from the cache
        started = time.perf_counter()
        prompt_tokens, produced = await _complete(client, base, prompt_words, completion_tokens)
        alone.append(time.perf_counter() - started)
        if produced != completion_tokens:
            raise RuntimeError(
                f"the server produced {produced} tokens, not {completion_tokens}: no ignore_eos?"
            )
        started = time.perf_counter()
        await asyncio.gather(
            *(_complete(client, base + 1 + agent, prompt_words, completion_tokens) for agent in range(agents))
        )
        together.append(time.perf_counter() - started)
    return ParallelCost(agents, completion_tokens, prompt_tokens, alone, together)
