"""What a model is shown of a long output: redacted, then cut to the limit keeping head and tail, and
never a piece of a secret that a cut made before redaction left without its label."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swe_fleet.redaction import redact
from swe_fleet.workspace.app.toolbox import redact_and_truncate, truncate

SECRET = "Zq8VfK2mWp4LrT9xYc3N"


def test_short_text_is_only_redacted():
    assert redact_and_truncate("password = hunter2-long\n", 1024, redact) == (
        "password = [REDACTED:secret]\n",
        False,
    )


def test_long_text_keeps_head_and_tail_and_counts_what_was_left_out():
    text = "HEAD" + "x" * 1_000_000 + "TAIL"
    shown, cut = redact_and_truncate(text, 1024, redact)
    assert cut and shown.startswith("HEAD") and shown.endswith("TAIL")
    assert len(shown.encode()) < 1024 + 64
    kept = len(shown.encode()) - len(shown.split("\n")[1].encode()) - 2
    assert f"[... {len(text) - kept} bytes left out ...]" in shown


def test_truncate_reports_a_cut_made_before():
    assert truncate("abc", 10, original_bytes=50) == ("abc", True)
    assert truncate("abc", 10) == ("abc", False)


def _near_the_cuts(limit: int) -> st.SearchStrategy[int]:
    # Where a cut can fall between a label and its secret: the final cut (limit/2 from an end) and the
    # cut made before redaction (2 x limit + 32 KB from an end), a few bytes either way; or anywhere.
    return st.one_of(
        st.integers(min_value=0, max_value=150_000),
        st.integers(min_value=-40, max_value=40).map(lambda d: max(0, limit // 2 + d)),
        st.integers(min_value=-40, max_value=40).map(lambda d: max(0, 2 * limit + 32768 + d)),
    )


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[int, int, int]:
    limit = draw(st.integers(min_value=256, max_value=20_000))
    return draw(_near_the_cuts(limit)), draw(_near_the_cuts(limit)), limit


@settings(max_examples=60, deadline=None)
@given(_layouts())
def test_no_fragment_of_a_secret_is_ever_shown(layout: tuple[int, int, int]):
    before, after, limit = layout
    text = "a" * (before + 70_000) + f" password = {SECRET} " + "b" * after
    shown, _ = redact_and_truncate(text, limit, redact)
    fragments = {SECRET[i : i + 6] for i in range(len(SECRET) - 5)}
    assert not any(fragment in shown for fragment in fragments), (before, after, limit)


def test_cutting_before_redacting_would_show_a_fragment():
    """The property above can fail: cutting first and redacting after leaks the secret's tail."""
    limit = 1000
    text = "a" * 5000 + f" password = {SECRET} " + "b" * (limit // 2 - 12)
    cut_first, _ = truncate(text, limit)
    assert SECRET[-6:] in redact(cut_first)
    assert SECRET[-6:] not in redact_and_truncate(text, limit, redact)[0]
