"""The reviewer agent over any OpenAI-compatible server: a JSON answer constrained by its schema."""

from __future__ import annotations

import json

from pydantic import ValidationError

from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.completion import ChatMessage, StructuredOutput
from swe_fleet.llm.errors import LlmRejected, LlmUnavailable
from swe_fleet.review.app.ports import ReviewUnavailable
from swe_fleet.review.domain.review import ReviewAnswer

_OUTPUT = StructuredOutput("qa_review", ReviewAnswer.model_json_schema())


class LlmReviewModel:
    def __init__(self, llm: LlmClient, *, attempts: int = 2, max_tokens: int = 512) -> None:
        self._llm, self._attempts, self._max_tokens = llm, attempts, max_tokens
        self.name = llm.config.model_for("QA")

    async def review(self, system: str, user: str) -> ReviewAnswer:
        messages = [ChatMessage("system", system), ChatMessage("user", user)]
        problem = "no attempt"
        for _ in range(self._attempts):
            try:
                completion = await self._llm.complete(
                    messages, role="QA", output=_OUTPUT, max_tokens=self._max_tokens, temperature=0.0
                )
            except (LlmUnavailable, LlmRejected) as error:
                problem = f"the model server failed: {error}"
                continue
            try:
                return ReviewAnswer.model_validate(json.loads(completion.content))
            except (ValueError, ValidationError) as error:
                problem = f"the answer is not a review: {str(error).splitlines()[0][:200]}"
        raise ReviewUnavailable(f"{problem} (after {self._attempts} attempts)")
