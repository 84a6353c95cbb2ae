"""The tools an agent works a checkout with, each call checked against the role's policy.

`Toolbox.execute` never raises on what a model sends: an unknown tool, bad arguments, a path leaving
the checkout, a write the role may not make, a command off the allow-list or needing approval, or no
sandbox all come back as an Observation with `refused_reason`. Edits that leave a Python file unable to
parse are rejected (the file keeps its content) and the syntax error is said at once. Every output and
summary is truncated to the role's limit and redacted before it is returned.
"""

from __future__ import annotations

import ast
import logging
import os
import shlex
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import regex

from swe_fleet.workspace.app.ports import Sandbox, SandboxUnavailable
from swe_fleet.workspace.domain.approvals import Verdict
from swe_fleet.workspace.domain.changes import parse_porcelain_z
from swe_fleet.workspace.domain.patches import PatchError, paths_from_numstat, touched_paths
from swe_fleet.workspace.domain.paths import PathRefused, confine, relative
from swe_fleet.workspace.domain.policy import (
    CommandRefused,
    CommandVerdict,
    Limits,
    RolePolicy,
    split_command,
)
from swe_fleet.workspace.domain.pytest_output import parse_test_output
from swe_fleet.workspace.domain.tools import (
    ApplyPatchArgs,
    FinishArgs,
    ListFilesArgs,
    Observation,
    ReadFileArgs,
    RunCommandArgs,
    RunTestsArgs,
    SearchCodeArgs,
    TestReport,
    ToolArguments,
    ToolArgumentsError,
    ToolCall,
    ToolName,
    WriteFileArgs,
)

log = logging.getLogger(__name__)

MAX_LISTED = 1000
MAX_MATCHES = 200
MAX_MATCH_LINE = 300
SEARCH_SECONDS = 5.0


class _Refused(Exception):
    """Internal: the call is refused with this reason (turned into an Observation)."""


class _Failed(Exception):
    """Internal: the call was tried and failed with this summary (turned into an Observation)."""


def truncate(text: str, max_bytes: int, original_bytes: int | None = None) -> tuple[str, bool]:
    """`text` within `max_bytes` of UTF-8, keeping its head and its tail (where errors usually are).
    `original_bytes`: the size of the text `text` was already cut from, for the count shown."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text, original_bytes is not None and original_bytes > len(data)
    half = max_bytes // 2
    head = data[:half].decode(errors="ignore")
    tail = data[-half:].decode(errors="ignore")
    dropped = (original_bytes or len(data)) - len(head.encode()) - len(tail.encode())
    return f"{head}\n[... {dropped} bytes left out ...]\n{tail}", True


def redact_and_truncate(text: str, max_bytes: int, redact: Callable[[str], str]) -> tuple[str, bool]:
    """`text` redacted, then cut to `max_bytes` (head and tail). Only a bounded piece is redacted: text
    over 4x the limit + 64 KB is first cut to its head and tail, a margin of 32 KB and more beyond what
    is finally shown, so no secret straddling the first cut can be left half-redacted in what is shown."""
    size = len(text.encode())
    margin = 4 * max_bytes + 65536
    if size > margin:
        text, _ = truncate(text, margin)
    return truncate(redact(text), max_bytes, original_bytes=max(size, len(text.encode())))


def _syntax_error(path: str, source: str | bytes) -> str | None:
    try:
        ast.parse(source, filename=path)
    except SyntaxError as error:
        return f"{path} line {error.lineno}: {error.msg}"
    except ValueError as error:  # NUL bytes in the source
        return f"{path}: {error}"
    return None


class Toolbox:
    """The tools of one role on one checkout. Blocking: async callers use asyncio.to_thread."""

    def __init__(
        self,
        root: Path,
        policy: RolePolicy,
        sandbox: Sandbox,
        test_command: str,
        redact: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
        *,
        verdicts: Mapping[str, Verdict] | None = None,
        may_ask: bool = True,
    ) -> None:
        self.root = root.resolve(strict=True)
        self.policy = policy
        self.sandbox = sandbox
        self.test_command = test_command
        # A memoised redaction (functools.lru_cache) would keep every distinct output, and tool outputs
        # are large and seldom repeat: the unmemoised function is used when there is one.
        self.redact: Callable[[str], str] = getattr(redact, "__wrapped__", redact)
        self.steps_taken = 0
        # The PO's verdicts on this task's commands (shlex-joined argv), and whether it may ask again.
        self.verdicts: Mapping[str, Verdict] = verdicts or {}
        self.may_ask = may_ask
        self._approved_runs: set[str] = set()
        self._clock = clock
        self._started: float | None = None

    @property
    def limits(self) -> Limits:
        return self.policy.limits

    # ------------------------------------------------------------------ entry points

    def execute(self, call: ToolCall) -> Observation:
        """Carries out `call` under the role's policy; refusals and failures are Observations."""
        started = self._clock()
        self.steps_taken += 1
        try:
            if self.steps_taken > self.limits.max_steps:
                raise _Refused(f"step limit reached ({self.limits.max_steps} tool calls for this task)")
            if self._started is None:
                self._started = started
            elif started - self._started > self.limits.max_seconds:
                raise _Refused(f"time limit reached ({self.limits.max_seconds:g} s for this task)")
            tool = call.tool()
            if not self.policy.may_use(tool):
                allowed = ", ".join(sorted(self.policy.tools))
                raise _Refused(f"this role may not use {tool.value}; its tools are: {allowed}")
            observation = self._dispatch(call.validated())
        except (_Refused, ToolArgumentsError, PathRefused, CommandRefused, PatchError) as refusal:
            observation = Observation(
                tool=call.name, ok=False, summary=str(refusal), refused_reason=str(refusal)
            )
        except SandboxUnavailable as error:
            reason = f"no sandbox: {error}"
            observation = Observation(tool=call.name, ok=False, summary=reason, refused_reason=reason)
        except _Failed as failure:
            observation = Observation(tool=call.name, ok=False, summary=str(failure))
        except (OSError, UnicodeError) as error:
            observation = Observation(tool=call.name, ok=False, summary=f"{type(error).__name__}: {error}")
        except Exception as error:  # a bug here must not end the agent's task: it is told, and logged
            log.exception("workspace tool %s failed unexpectedly", call.name)
            observation = Observation(
                tool=call.name, ok=False, summary=f"internal error: {type(error).__name__}"
            )
        return self._finalise(observation, call, self._clock() - started)

    def _dispatch(self, args: ToolArguments) -> Observation:
        match args:
            case ListFilesArgs():
                return self._list_files(args)
            case ReadFileArgs():
                return self._read_file(args)
            case SearchCodeArgs():
                return self._search_code(args)
            case WriteFileArgs():
                return self._write_file(args)
            case ApplyPatchArgs():
                return self._apply_patch(args)
            case RunTestsArgs():
                return self._run_tests_tool(args)
            case RunCommandArgs():
                return self._run_command(args)
            case FinishArgs():
                return self._finish(args)
        raise _Refused(f"no handler for {type(args).__name__}")

    def run_tests(self) -> TestReport:
        """The project's test command in the sandbox, with the failing tests it names."""
        try:
            argv = split_command(self.test_command)
            result = self.sandbox.run(argv, cwd=self.root, limits=self.limits)
            try:
                undone = self._undo_forbidden_changes()
            except _Failed as failure:
                undone = f"; {failure}"
        except (CommandRefused, SandboxUnavailable) as error:
            return TestReport(passed=False, exit_code=None, summary=f"tests not run: {error}")
        failing, tally = parse_test_output(result.output)
        output, truncated = redact_and_truncate(result.output, self.limits.max_output_bytes, self.redact)
        if result.timed_out:
            summary = f"tests stopped: {result.killed_reason}"
        elif result.ok:
            summary = f"tests passed: {tally}" if tally else "tests passed"
        elif result.exit_code == 5:
            summary = "no tests were collected"
        else:
            reason = f" ({result.killed_reason})" if result.killed_reason else ""
            summary = f"tests failed (exit {result.exit_code}){reason}: {tally or 'see output'}"
        summary += undone
        return TestReport(
            passed=result.ok,
            exit_code=result.exit_code,
            failing_tests=failing,
            summary=self.redact(summary),
            output=output,
            truncated=truncated or result.truncated,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
        )

    # ------------------------------------------------------------------ reading

    def _walk(self, start: Path) -> Iterator[Path]:
        """Files under `start` in sorted order, .git and symlinked directories left out."""
        if start.is_file():
            yield start
            return
        for directory, dirs, files in os.walk(start, followlinks=False):
            dirs[:] = sorted(name for name in dirs if name.lower() != ".git")
            for name in sorted(files):
                yield Path(directory) / name

    def _list_files(self, args: ListFilesArgs) -> Observation:
        start = confine(self.root, args.path)
        if not start.exists():
            raise _Failed(f"{args.path!r} does not exist")
        listed: list[str] = []
        more = False
        for path in self._walk(start):
            if len(listed) == MAX_LISTED:
                more = True
                break
            listed.append(relative(self.root, path))
        shown = relative(self.root, start)
        summary = f"{len(listed)}{'+' if more else ''} files under {shown}"
        return Observation(
            tool=ToolName.LIST_FILES, ok=True, summary=summary, output="\n".join(listed), truncated=more
        )

    def _read_text(self, path: Path, shown: str) -> str:
        if not path.is_file():
            raise _Failed(f"{shown!r} is not a file" if path.exists() else f"{shown!r} does not exist")
        size = path.stat().st_size
        if size > self.limits.max_file_mb * 1024 * 1024:
            raise _Failed(f"{shown} is {size} bytes, over the {self.limits.max_file_mb} MB limit")
        data = path.read_bytes()
        if b"\x00" in data[:8192]:
            raise _Failed(f"{shown} is a binary file")
        return data.decode(errors="replace")

    def _read_file(self, args: ReadFileArgs) -> Observation:
        path = confine(self.root, args.path)
        shown = relative(self.root, path)
        lines = self._read_text(path, shown).splitlines(keepends=True)
        first = args.start_line or 1
        last = min(args.end_line or len(lines), len(lines))
        if lines and first > len(lines):
            raise _Failed(f"{shown} has {len(lines)} lines; start_line {first} is past its end")
        if last < first and lines:
            raise _Failed(f"end_line {last} is before start_line {first}")
        window = "".join(lines[first - 1 : last])
        summary = f"{shown}: lines {first}-{last} of {len(lines)}" if lines else f"{shown}: empty file"
        return Observation(tool=ToolName.READ_FILE, ok=True, summary=summary, output=window)

    def _search_code(self, args: SearchCodeArgs) -> Observation:
        try:
            pattern = regex.compile(args.pattern)
        except regex.error as error:
            raise _Failed(f"the pattern is not a regular expression: {error}") from None
        start = confine(self.root, args.path)
        if not start.exists():
            raise _Failed(f"{args.path!r} does not exist")
        # A pattern that backtracks without end is cut off: the regex module takes a timeout.
        deadline = time.monotonic() + SEARCH_SECONDS
        matches: list[str] = []
        files = 0
        stopped = ""
        for path in self._walk(start):
            if len(matches) >= MAX_MATCHES:
                stopped = f"stopped at {MAX_MATCHES} matches"
                break
            # Regular files only: a FIFO a command left behind would block the read forever.
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size > self.limits.max_file_mb * 1024 * 1024:
                continue
            data = path.read_bytes()
            if b"\x00" in data[:8192]:
                continue
            files += 1
            shown = relative(self.root, path)
            for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
                remaining = deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    found = pattern.search(line, timeout=remaining)
                except TimeoutError:
                    stopped = f"stopped after {SEARCH_SECONDS:.0f} s (a pattern that backtracks too much?)"
                    break
                if found:
                    matches.append(f"{shown}:{number}: {line[:MAX_MATCH_LINE]}")
                    if len(matches) >= MAX_MATCHES:
                        break
            if stopped:
                break
        summary = f"{len(matches)} matches in {files} files searched" + (f"; {stopped}" if stopped else "")
        return Observation(
            tool=ToolName.SEARCH_CODE,
            ok=True,
            summary=summary,
            output="\n".join(matches),
            truncated=bool(stopped),
        )

    # ------------------------------------------------------------------ writing

    def _writable(self, path: str) -> tuple[Path, str]:
        real = confine(self.root, path, write=True)
        shown = relative(self.root, real)
        protected = self.policy.protection(shown)
        if protected is not None:
            raise _Refused(
                f"{shown} is protected for this role ({protected}): "
                "CI and submodule files are not its to change"
            )
        if not self.policy.may_write(shown):
            allowed = ", ".join(self.policy.write_paths)
            raise _Refused(f"this role may not write {shown}; it may write: {allowed}")
        return real, shown

    def _write_file(self, args: WriteFileArgs) -> Observation:
        real, shown = self._writable(args.path)
        data = args.content.encode()
        if len(data) > self.limits.max_file_mb * 1024 * 1024:
            raise _Refused(f"{len(data)} bytes is over the {self.limits.max_file_mb} MB file limit")
        if real.is_dir():
            raise _Failed(f"{shown} is a directory")
        if real.exists() and not real.is_file():
            # A FIFO or socket a command left behind: opening it for writing would block.
            raise _Failed(f"{shown} is not a regular file")
        if shown.endswith(".py"):
            error = _syntax_error(shown, args.content)
            if error:
                raise _Failed(f"rejected, the file was not changed: {error}")
        before = len(real.read_text(errors="replace").splitlines()) if real.is_file() else None
        real.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a symlink put in place after the check is not followed.
        handle = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        after = len(args.content.splitlines())
        summary = (
            f"created {shown} ({after} lines)"
            if before is None
            else f"wrote {shown}: {before} -> {after} lines"
        )
        return Observation(tool=ToolName.WRITE_FILE, ok=True, summary=summary)

    def _apply_patch(self, args: ApplyPatchArgs) -> Observation:
        patch = args.patch if args.patch.endswith("\n") else args.patch + "\n"
        # The headers are checked before anything runs; then git says what it would touch, and that
        # is checked too (the union), before the patch is applied.
        targets = {real: shown for real, shown in (self._writable(path) for path in touched_paths(patch))}
        check = self.sandbox.run(
            ["git", "apply", "--check", "--numstat", "-z", "-"],
            cwd=self.root,
            limits=self.limits,
            stdin=patch,
        )
        if not check.ok:
            raise _Failed(f"the patch does not apply: {check.output.strip()[:2000]}")
        for path in paths_from_numstat(check.stdout):
            real, shown = self._writable(path)
            targets.setdefault(real, shown)
        snapshots = {real: (real.read_bytes() if real.is_file() else None) for real in targets}
        applied = self.sandbox.run(["git", "apply", "-"], cwd=self.root, limits=self.limits, stdin=patch)
        if not applied.ok:
            self._restore(snapshots)
            raise _Failed(f"the patch failed to apply: {applied.output.strip()[:2000]}")
        for real, shown in targets.items():
            if shown.endswith(".py") and real.is_file():
                error = _syntax_error(shown, real.read_bytes())
                if error:
                    self._restore(snapshots)
                    raise _Failed(f"rejected, no file was changed: {error}")
        changed = ", ".join(targets.values())
        return Observation(
            tool=ToolName.APPLY_PATCH, ok=True, summary=f"patched {len(targets)} files: {changed}"
        )

    def _restore(self, snapshots: dict[Path, bytes | None]) -> None:
        for real, content in snapshots.items():
            if content is None:
                real.unlink(missing_ok=True)
            else:
                if real.is_symlink():
                    real.unlink()
                real.write_bytes(content)

    # ------------------------------------------------------------------ commands

    def _run_tests_tool(self, args: RunTestsArgs) -> Observation:
        report = self.run_tests()
        if report.exit_code is None and not report.timed_out:
            return Observation(
                tool=ToolName.RUN_TESTS, ok=False, summary=report.summary, refused_reason=report.summary
            )
        failing = "\nfailing: " + ", ".join(report.failing_tests) if report.failing_tests else ""
        return Observation(
            tool=ToolName.RUN_TESTS,
            ok=report.passed,
            summary=report.summary + failing,
            output=report.output,
            truncated=report.truncated,
        )

    def _run_command(self, args: RunCommandArgs) -> Observation:
        argv = split_command(args.command)
        decision = self.policy.check_command(argv)
        if decision.verdict is CommandVerdict.APPROVAL_REQUIRED:
            waiting = self._approval(argv, decision.reason)
            if waiting is not None:
                return waiting
        elif decision.verdict is CommandVerdict.DENIED:
            raise _Refused(decision.reason)
        result = self.sandbox.run(argv, cwd=self.root, limits=self.limits)
        if result.timed_out or result.killed_reason:
            summary = f"`{shlex.join(argv)}` stopped: {result.killed_reason}"
        else:
            summary = f"`{shlex.join(argv)}` exited {result.exit_code} in {result.duration_s:.1f} s"
        summary += self._undo_forbidden_changes()
        return Observation(
            tool=ToolName.RUN_COMMAND,
            ok=result.ok,
            summary=summary,
            output=result.output,
            truncated=result.truncated,
        )

    def _approval(self, argv: tuple[str, ...], reason: str) -> Observation | None:
        """None when the PO approved `argv` (it may run, once per attempt); the observation otherwise:
        refused as the PO said, or `approval_required` (the task is parked until the verdict)."""
        shown = shlex.join(argv)
        verdict = self.verdicts.get(shown)
        if verdict is None:
            if not self.may_ask:
                raise _Refused(
                    f"`{shown}` needs the Product Owner's approval, and none can be asked for here"
                )
            text = f"approval required: {reason}; the task waits for the Product Owner's verdict"
            return Observation(
                tool=ToolName.RUN_COMMAND, ok=False, summary=text, refused_reason=text, approval_required=True
            )
        if not verdict.approved:
            raise _Refused(f"the Product Owner refused `{shown}`: {verdict.reason}; go on without it")
        if shown in self._approved_runs:
            raise _Refused(f"`{shown}` was approved to run once; it ran already")
        self._approved_runs.add(shown)
        return None

    def _undo_forbidden_changes(self) -> str:
        """Undoes what the last command changed outside the role's write paths (git tracks the checkout);
        returns the sentence saying so, or "" when there was nothing to undo."""
        if not (self.root / ".git").is_dir():
            return ""
        # A wide output limit: a command may leave thousands of files, and every one must be seen.
        wide = self.limits.model_copy(update={"max_output_bytes": 4 * 1024 * 1024})
        status = self.sandbox.run(
            ["git", "status", "--porcelain", "-z", "--untracked-files=all"], cwd=self.root, limits=wide
        )
        if not status.ok or status.truncated:
            raise _Failed(f"cannot check what the command changed: {status.output.strip()[:500]}")
        forbidden = [
            change for change in parse_porcelain_z(status.stdout) if not self.policy.may_write(change.path)
        ]
        if not forbidden:
            return ""
        tracked = [change.path for change in forbidden if not change.untracked]
        if tracked:
            # The checkout's .git is read-only in the sandbox: a private index in its /tmp does the restore.
            restore = self.sandbox.run(
                ["sh", "-c", 'git read-tree HEAD && git checkout-index -f -- "$@"', "sh", *tracked],
                cwd=self.root,
                limits=self.limits,
                env={"GIT_INDEX_FILE": "/tmp/fleet-restore-index"},
            )
            if not restore.ok:
                raise _Failed(
                    f"cannot undo changes outside this role's paths: {restore.output.strip()[:500]}"
                )
        for change in forbidden:
            if change.untracked:
                self._remove_untracked(change.path)
        shown = ", ".join(change.path for change in forbidden[:20]) + (" ..." if len(forbidden) > 20 else "")
        return f"; undone: changes this role may not make ({shown})"

    def _remove_untracked(self, path: str) -> None:
        # The name itself is not resolved (it may be a symlink pointing anywhere): its directory is.
        try:
            target = confine(self.root, str(Path(path).parent)) / Path(path).name
        except PathRefused:
            return
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():  # a nested repository git shows as one entry (`dir/`)
            shutil.rmtree(target)

    def _finish(self, args: FinishArgs) -> Observation:
        return Observation(tool=ToolName.FINISH, ok=True, summary=args.summary)

    # ------------------------------------------------------------------ output

    def _finalise(self, observation: Observation, call: ToolCall, duration: float) -> Observation:
        output, cut = redact_and_truncate(observation.output, self.limits.max_output_bytes, self.redact)
        summary, _ = redact_and_truncate(observation.summary, 2048, self.redact)
        reason = observation.refused_reason
        return observation.model_copy(
            update={
                "call_id": call.call_id,
                "summary": summary,
                "output": output,
                "truncated": observation.truncated or cut,
                "refused_reason": self.redact(reason) if reason else None,
                "duration_s": round(duration, 4),
            }
        )
