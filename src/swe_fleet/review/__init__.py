"""QA review of committed changes: a reviewer agent judges each diff and its tests against the story."""
