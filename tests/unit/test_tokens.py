"""The fleet's one token counter: the estimate, and counting with a (scripted) server tokenizer."""

from __future__ import annotations

from swe_fleet.tokens import EstimatingCounter, TokenizerCounter, attribute_pieces, estimate_tokens


class ScriptedTokenizer:
    """One token per character, with its piece when asked: what llama.cpp's /tokenize would give."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.closed = False

    def __call__(self, text: str, pieces: bool = False) -> list:
        self.calls.append((text, pieces))
        return [{"id": ord(ch), "piece": ch} for ch in text] if pieces else [ord(ch) for ch in text]

    def close(self) -> None:
        self.closed = True


def test_a_servers_tokenizer_is_asked_once_per_text() -> None:
    tokenizer = ScriptedTokenizer()
    counter = TokenizerCounter("llama.cpp", tokenizer, cache_size=2)
    assert counter.count("abcd") == 4 and counter.count("abcd") == 4
    assert counter.count("") == 0
    assert tokenizer.calls == [("abcd", False)]
    counter.count("x")
    counter.count("yy")  # the cache holds two texts: "abcd" is forgotten
    counter.count("abcd")
    assert len(tokenizer.calls) == 4
    counter.close()
    assert tokenizer.closed


def test_lines_are_counted_in_one_call_and_add_up_to_the_joined_text() -> None:
    tokenizer = ScriptedTokenizer()
    counter = TokenizerCounter("llama.cpp", tokenizer)
    lines = ["ab", "", "cde"]
    counts = counter.count_lines(lines)
    assert tokenizer.calls == [("ab\n\ncde", True)]
    assert sum(counts) == counter.count("ab\n\ncde") == 7
    assert counts == [3, 1, 3]  # each newline belongs to the line it ends


def test_pieces_that_span_lines_go_to_the_line_they_start_on() -> None:
    tokens = [{"piece": "ab\n"}, {"piece": "\nc"}, {"piece": "d"}]
    assert attribute_pieces(["ab", "", "cd"], tokens) == [1, 1, 1]


def test_the_estimate_is_additive_over_lines() -> None:
    lines = ["Decision D-1: FastAPI on SQLite", "ULID 01JD3X9Q2K", "héllo wörld"]
    assert sum(EstimatingCounter().count_lines(lines)) == estimate_tokens("\n".join(lines))
