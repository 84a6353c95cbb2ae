"""Counting tokens, in one place: the model's own tokenizer when the LLM server offers one, else an estimate.

Every count in the fleet comes from here: the Context service's packing (`TokenCounter`, chosen at
start-up by `llm.tokenizer.choose_counter`), the agent worker's cut of its context budget to the
model's window (`estimate_tokens`), and `fleet llm tokens`. Usage roll-ups count nothing: they add
the tokens the LLM server reported for each call (context/domain/usage.py).

The estimate counts character classes, each at a rate at or above what a byte-level BPE or
SentencePiece tokenizer with byte fallback produces for it (measured against Gemma 3's tokenizer
through llama.cpp's /tokenize; see docs/adr/0204):

- a run of ASCII letters: ceil(0.75 x length) (English prose is ~0.2 tokens per letter, random
  identifiers and ULIDs ~0.6-0.7);
- each digit: 1 (Gemma and Llama 3 split numbers into single digits);
- each ASCII punctuation or symbol: 1; each newline: 1; a single space: 0 (tokenizers fold it into
  the next word), a longer run of spaces: ceil(length / 2);
- each non-ASCII character: its UTF-8 byte count (byte fallback never needs more than one token
  per byte, so this part is a strict bound);
- plus 1 for any non-empty text (a leading-space or boundary piece).

It is not a strict bound for adversarial input: a short run of random mixed-case letters can take
one token per letter. Deployments that need the budget to hold against the model exactly configure
an LLM server with a tokenizer (the embedded llama.cpp server has one, and it is then used).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

_RUNS = re.compile(
    r"[A-Za-z]+|[0-9]+| +|\n|[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]|[^\x00-\x7f]|[\x00-\x1f\x7f]"
)


class TokenCounter(Protocol):
    """Counts the tokens of a text (0 for the empty text). `name` says which tokenizer it is."""

    name: str

    def count(self, text: str) -> int: ...

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        """The tokens of each line of `"\n".join(lines)`, in one go (one call for a remote tokenizer).

        Their sum is the count of the joined text (exactly, for the estimate and for a tokenizer
        whose pieces are attributed to lines); the assembler still checks the final blocks.
        """
        ...


# Pure and called on the same lines again and again (every request on a story re-measures its
# decisions): memoised, bounded.
@lru_cache(maxsize=65_536)
def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    total = 1
    for match in _RUNS.finditer(text):
        run = match.group(0)
        first = run[0]
        if first.isascii() and first.isalpha():
            total += math.ceil(len(run) * 0.75)
        elif first.isascii() and first.isdigit():
            total += len(run)
        elif first == " ":
            total += 0 if len(run) == 1 else math.ceil(len(run) / 2)
        elif first.isascii():
            total += 1
        else:
            total += len(run.encode("utf-8"))
    return total


class EstimatingCounter:
    name = "estimate"

    def count(self, text: str) -> int:
        return estimate_tokens(text)

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        # Newlines are runs of their own, so estimate(join) == sum(estimate(line)) for non-empty lines.
        return [estimate_tokens(line) for line in lines]


# A tokenizer endpoint: the tokens of a text; with pieces=True each token as {"id", "piece"} (llama.cpp).
Tokenize = Callable[[str, bool], list[Any]]


class TokenizerCounter:
    """Counts with the model's own tokenizer (`tokenize`, a transport: llm.tokenizer); cached by text."""

    def __init__(self, name: str, tokenize: Tokenize, *, cache_size: int = 4096) -> None:
        self.name = name
        self._tokenize = tokenize
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size

    def count(self, text: str) -> int:
        if not text:
            return 0
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        value = len(self._tokenize(text, False))
        self._cache[text] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value

    def close(self) -> None:
        """Let go of the transport's connection, if it holds one."""
        close = getattr(self._tokenize, "close", None)
        if callable(close):
            close()

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        """One call for all lines: each token is attributed to the line where its text starts."""
        if not lines:
            return []
        return attribute_pieces(lines, self._tokenize("\n".join(lines), True))


def attribute_pieces(lines: Sequence[str], tokens: list[Any]) -> list[int]:
    """Tokens per line of `"\n".join(lines)`, from the tokenizer's pieces in order."""
    starts, offset = [], 0
    for text_line in lines:
        starts.append(offset)
        offset += len(text_line) + 1
    counts = [0] * len(lines)
    line, position = 0, 0
    for token in tokens:
        piece = token.get("piece", "") if isinstance(token, dict) else ""
        while line + 1 < len(lines) and position >= starts[line + 1]:
            line += 1
        counts[line] += 1
        position += len(piece) if isinstance(piece, str) else 1
    return counts
