"""Refuses any Cypher that could write, before it reaches a store (the stores enforce it again).

The check works on the query with its string literals, comments and quoted identifiers blanked out,
so neither `/* */ CREATE`, `cReAtE` nor `'MERGE'` inside a string can fool it, and it refuses more
than one statement per query. It errs on the side of refusing: a read query that happens to use a
write keyword as a bare map key is refused too; quote it with backticks.
"""

from __future__ import annotations

import re

WRITE_KEYWORDS = frozenset(
    {
        "CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "ALTER", "RENAME", "COPY", "LOAD",
        "FOREACH", "INSTALL", "ATTACH", "IMPORT", "EXPORT", "CHECKPOINT", "BEGIN", "COMMIT", "ROLLBACK",
        "USE", "GRANT", "DENY", "REVOKE", "TERMINATE", "START", "STOP", "ENABLE", "INSERT", "UPDATE",
        "TRUNCATE",
    }
)  # fmt: skip

# Procedures that only read the catalogue; every other CALL is refused (it could be a write).
READ_PROCEDURES = frozenset(
    {
        "show_tables", "table_info", "show_connection", "db_version", "current_setting",
        "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
        "db.indexes", "db.constraints",
    }
)  # fmt: skip

MAX_QUERY_CHARS = 20_000


class WriteQueryRefused(ValueError):
    """The query could change the graph (or cannot be checked); the API answers 400."""


def _blank_literals(query: str) -> str:
    """The query with strings, comments and `quoted identifiers` replaced by spaces or placeholders."""
    out: list[str] = []
    index, length = 0, len(query)
    while index < length:
        char = query[index]
        pair = query[index : index + 2]
        if pair == "//":
            end = query.find("\n", index)
            index = length if end == -1 else end
            out.append(" ")
        elif pair == "/*":
            end = query.find("*/", index + 2)
            if end == -1:
                raise WriteQueryRefused("unterminated /* comment")
            index = end + 2
            out.append(" ")
        elif char in "'\"`":
            end = index + 1
            while end < length and query[end] != char:
                end += 2 if query[end] == "\\" else 1
            if end >= length:
                raise WriteQueryRefused(f"unterminated {char} quote")
            # A quoted identifier stays a harmless identifier; a string becomes an empty string.
            out.append("x" if char == "`" else "''")
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


_WORD = re.compile(r"(?<![\w.$:])([A-Za-z_][A-Za-z0-9_]*)(?!\s*:(?!:))")
_CALL = re.compile(r"(?<![\w.$])CALL\b\s*([A-Za-z_][\w.]*|\{)?", re.IGNORECASE)


def check_read_only(query: str) -> str:
    """Return the query (stripped) if it cannot write; raise WriteQueryRefused saying why otherwise."""
    if not query or not query.strip():
        raise WriteQueryRefused("empty query")
    if len(query) > MAX_QUERY_CHARS:
        raise WriteQueryRefused(f"query longer than {MAX_QUERY_CHARS} characters")
    blank = _blank_literals(query).strip()
    body = blank[:-1] if blank.endswith(";") else blank
    if ";" in body:
        raise WriteQueryRefused("one statement per query")
    for match in _WORD.finditer(body):
        word = match.group(1).upper()
        if word in WRITE_KEYWORDS:
            raise WriteQueryRefused(f"{word} is not allowed: the graph query API is read-only")
    for match in _CALL.finditer(body):
        target = match.group(1)
        if target == "{":
            continue  # a subquery: its clauses were checked above
        if not target or target.lower() not in READ_PROCEDURES:
            shown = f"CALL {target}" if target else "CALL"
            raise WriteQueryRefused(f"{shown} is not allowed: only catalogue procedures may be called")
    return query.strip()
