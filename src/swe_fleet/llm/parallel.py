"""How much a council costs over one agent on a given LLM server: N concurrent completions vs one alone.

    result = await measure_parallel_cost(client, agents=3, completion_tokens=128)
    result.ratio  # wall time of N concurrent completions / wall time of one (1.0 = free parallelism)

Every completion is the same size (a prompt of about `prompt_words` words, exactly
`completion_tokens` tokens out: `ignore_eos` on llama.cpp and vLLM). Each agent's prompt is distinct
from its first token, or, with `shared_prefix`, only in its last line (as the agent workers build a
council's prompts); no round reuses an earlier round's cache. Used by `bench/llm_parallel.py`
(server flag sweeps), `fleet llm parallel` and the orchestrator benchmark.
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
    shared_prefix: bool
    alone_seconds: list[float] = field(default_factory=list)
    together_seconds: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median wall time of `agents` concurrent completions over the median of one alone."""
        return statistics.median(self.together_seconds) / statistics.median(self.alone_seconds)

    @property
    def best_ratio(self) -> float:
        """Fastest together over fastest alone: the least disturbed rounds, on a machine others share."""
        return min(self.together_seconds) / min(self.alone_seconds)

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
            "best_ratio": round(self.best_ratio, 3),
            "tokens_per_second_alone": round(self.tokens_per_second_alone, 1),
            "tokens_per_second_together": round(self.tokens_per_second_together, 1),
        }


def agent_prompt(round_tag: int, agent: int, prompt_words: int, *, shared_prefix: bool) -> list[ChatMessage]:
    """A prompt of the same length for every tag and agent number from 10 to 99.

    Each round's prompts start with the round's tag, so nothing comes from an earlier round's cache.
    With `shared_prefix` the agent is named last, as the agent workers do: a council's prompts then
    share everything but their last line, which the server's prompt cache may compute once.
    """
    filler = " ".join(
        f"Context line {n} about the rate limiter and its limits." for n in range(prompt_words // 9)
    )
    who = f"You are agent {agent:02d} of the council."
    system = f"Round {round_tag:02d}. You are one of a council of software architects."
    ask = "Propose a design for the rate limiter, with steps and risks."
    if shared_prefix:
        return [ChatMessage("system", system), ChatMessage("user", f"{filler}\n{ask}\n{who}")]
    return [ChatMessage("system", f"{who} {system}"), ChatMessage("user", f"{filler}\n{ask}")]


async def _complete(
    client: LlmClient, messages: list[ChatMessage], completion_tokens: int
) -> tuple[int, int]:
    completion = await client.complete(
        messages,
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
    shared_prefix: bool = False,
) -> ParallelCost:
    """Alternate one-alone and `agents`-together rounds (`repeats` each) after one warm-up round."""
    await _complete(client, agent_prompt(99, 99, prompt_words, shared_prefix=False), 8)  # pages in weights
    alone, together = [], []
    prompt_tokens = 0
    for round_number in range(repeats):
        tag = 10 + 2 * round_number
        started = time.perf_counter()
        messages = agent_prompt(tag, 10, prompt_words, shared_prefix=shared_prefix)
        prompt_tokens, produced = await _complete(client, messages, completion_tokens)
        alone.append(time.perf_counter() - started)
        if produced != completion_tokens:
            raise RuntimeError(
                f"the server produced {produced} tokens, not {completion_tokens}: no ignore_eos?"
            )
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _complete(
                    client,
                    agent_prompt(tag + 1, 10 + agent, prompt_words, shared_prefix=shared_prefix),
                    completion_tokens,
                )
                for agent in range(agents)
            )
        )
        together.append(time.perf_counter() - started)
    return ParallelCost(agents, completion_tokens, prompt_tokens, shared_prefix, alone, together)
