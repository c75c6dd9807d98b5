"""The generated catalog: public environments with realistic names, tags, READMEs, versions
and download counts, the same for a given seed (so every database gets the same data)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any

from . import SEARCH_SHARE, SEARCH_WORD

USERS = ["alice", "bogdan", "chen", "dana", "emeka", "fatima", "goran", "hiro", "ines",
         "jonas", "kavya", "lucia", "mehdi", "nora", "oskar", "paula", "quentin", "rania",
         "sota", "tamar", "ulla", "vikram", "wanjiru", "xavier", "yara", "zeynep", "arjun",
         "beatriz", "cyril", "dilnoza"]
ORGS = {"rl-foundry": "alice", "mathbench": "chen", "agentworks": "emeka",
        "evalhouse": "kavya", "openverifiers": "nora", "tinylabs": "sota"}
ADJECTIVES = ["fast", "tiny", "hard", "multi-step", "long", "noisy", "strict", "open",
              "sparse", "dense", "verified", "synthetic", "curated", "adaptive", "basic",
              "extended", "lite", "pro", "robust", "fuzzy", "exact", "graded", "mini", "deep"]
NOUNS = ["gsm8k", "arithmetic", "proofs", "wordle", "sudoku", "crossword", "hotpotqa", "mbpp",
         "humaneval", "swe-tasks", "browser", "calendar", "sql", "regex", "units", "trivia",
         "debate", "summaries", "haiku", "poker", "maze", "hanoi", "bandit", "tool-calls",
         "json-schema", "unit-tests", "geometry", "logic-grid", "cipher", "recipes"]
TAGS = ["math", "code", "reasoning", "tool-use", "games", "agents", "retrieval", "writing",
        "science", "puzzles", "multi-turn", "single-turn", "safety", "translation", "logic",
        "planning", "web", "sql", "chemistry", "finance", "medicine", "long-context",
        "structured-output", "rubric", "llm-judge", "exact-match", "python", "sandbox",
        "synthetic", "benchmark", "education", "dialogue", "search", "vision-free", "rlhf",
        "curriculum", "easy", "hard"]
TASKS = ["Solve", "Play", "Answer", "Write", "Repair", "Plan", "Translate", "Summarize",
         "Classify", "Verify", "Generate", "Navigate"]
SCORERS = ["exact match on the final answer", "unit tests run in a sandbox",
           "an LLM judge with a fixed rubric", "a parser reward plus a format bonus",
           "partial credit per solved step", "the number of turns used",
           "a reference solution diff", "F1 against gold spans"]
SENTENCES = [
    "Each example comes with a reference answer and a short rationale.",
    "The parser extracts the answer from the last fenced block or the final line.",
    "Prompts are kept short so that small models can be evaluated cheaply.",
    "The dataset is split into train, validation and test; only test is used for evals.",
    "Rewards are in the range 0 to 1 and are averaged over rollouts.",
    "Multi-turn episodes end after ten turns or when the model gives a final answer.",
    "Tool calls are executed in a sandbox without network access.",
    "A small held-out set is used to check for contamination.",
    "The environment is deterministic given a seed, which makes comparisons fair.",
    "Failures are logged with the raw completion so they can be inspected later.",
    "Difficulty increases across the curriculum, from single steps to long chains.",
    "The system prompt explains the answer format; no few-shot examples are used.",
]
RUNTIMES = [(["verifiers>=0.2"], 6), (["verifiers>=0.2", "datasets>=2.19"], 3),
            (["verifiers>=0.1.4,<0.2"], 2), ([], 1)]
VERSIONS = ["0.1.0", "0.1.1", "0.2.0", "1.0.0", "1.1.0"]


@dataclass
class EnvSpec:
    owner: str
    name: str
    description: str
    keywords: list[str]
    readme: str
    requires: list[str]
    versions: list[str]
    downloads: int
    matches_search: bool


def owner_weights() -> list[tuple[str, float]]:
    """A few prolific owners and a long tail (Zipf-like), orgs among the busiest."""
    owners = list(ORGS) + USERS
    return [(o, 1 / (k + 1) ** 0.8) for k, o in enumerate(owners)]


def _readme(rng: random.Random, owner: str, name: str, description: str) -> str:
    """A README of roughly 1.5-4 KB in the shape authors write (so search_text is realistic)."""
    paragraphs = [" ".join(rng.sample(SENTENCES, rng.randint(2, 5))) for _ in range(3)]
    rows = "\n".join(f"| {m} | {rng.random():.3f} |" for m in
                     rng.sample(["smollm2-135m", "qwen3-0.6b", "llama-3.2-1b", "gpt-4.1-mini",
                                 "claude-haiku"], 3))
    return (f"# {name}\n\n{description}\n\n## Overview\n\n{paragraphs[0]}\n\n## Dataset\n\n"
            f"{paragraphs[1]}\n\n## Reward\n\n- {rng.choice(SCORERS)}\n- {rng.choice(SCORERS)}\n\n"
            f"## Quickstart\n\n```sh\nenvhub install {owner}/{name}\n"
            f"envhub eval run {owner}/{name} --model local/smollm2-135m-instruct -n 20\n```\n\n"
            f"## Results\n\n| model | mean reward |\n|---|---|\n{rows}\n\n{paragraphs[2]}\n")


def _unique_name(rng: random.Random, taken: set[tuple[str, str]], owner: str,
                 search: bool) -> str:
    noun = "chess-endgames" if search and rng.random() < 0.3 else rng.choice(NOUNS)
    base = f"{rng.choice(ADJECTIVES)}-{noun}"
    name, k = base, 2
    while (owner, name) in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add((owner, name))
    return name


def _search_placement(rng: random.Random, name: str) -> str:
    """Where SEARCH_WORD appears: the name, a tag, the description or only the README."""
    if "chess" in name:
        return "name"
    return rng.choice(["tag", "description", "readme"])


def make_spec(rng: random.Random, i: int, owners: list[tuple[str, float]],
              taken: set[tuple[str, str]]) -> EnvSpec:
    owner = rng.choices([o for o, _ in owners], weights=[w for _, w in owners])[0]
    search = i % SEARCH_SHARE == 0
    name = _unique_name(rng, taken, owner, search)
    where = _search_placement(rng, name) if search else ""
    subject = f"{SEARCH_WORD} positions" if where == "description" else name.replace("-", " ")
    description = f"{rng.choice(TASKS)} {subject} tasks, scored by {rng.choice(SCORERS)}."
    keywords = rng.sample(TAGS, rng.randint(1, 5)) + ([SEARCH_WORD] if where == "tag" else [])
    readme = _readme(rng, owner, name, description)
    if where == "readme":
        readme += f"\nThe positions come from annotated {SEARCH_WORD} games.\n"
    requires = rng.choices([r for r, _ in RUNTIMES], weights=[w for _, w in RUNTIMES])[0]
    n_versions = rng.choices([1, 2, 3, 5], weights=[70, 18, 9, 3])[0]
    downloads = min(500_000, int(rng.lognormvariate(4.0, 2.0)))
    return EnvSpec(owner=owner, name=name, description=description, keywords=keywords,
                   readme=readme, requires=list(requires), versions=VERSIONS[:n_versions],
                   downloads=downloads, matches_search=search)


def catalog_specs(n: int, seed: int) -> list[EnvSpec]:
    rng = random.Random(seed)
    owners = owner_weights()
    taken: set[tuple[str, str]] = set()
    return [make_spec(rng, i, owners, taken) for i in range(n)]


def describe(specs: list[EnvSpec]) -> dict[str, Any]:
    downloads = sorted(s.downloads for s in specs)
    return {
        "environments": len(specs),
        "versions": sum(len(s.versions) for s in specs),
        "owners": len({s.owner for s in specs}),
        "readme_bytes_avg": round(statistics.mean(len(s.readme) for s in specs)),
        "tags_per_env_avg": round(statistics.mean(len(s.keywords) for s in specs), 1),
        "downloads_min_median_max": [downloads[0], statistics.median(downloads), downloads[-1]],
        "search_matches": sum(s.matches_search for s in specs),
    }
