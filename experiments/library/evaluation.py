"""Evaluation cells shared by the report and the ablation study.

A cell is one policy on one persona over fixed seeds. Its episodes are stored compactly
in a JSON file as soon as it is done, keyed by everything that determines them
(policy, model file, persona, ablation, seeds), so an interrupted report resumes and a
changed setting recomputes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import Move
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.rollouts import Episode, run_episodes

_COMPACT = ("seed", "persona", "outcome", "ret", "turns", "moves", "reactions", "tones", "solved_before")


def _model_digest(policy: str) -> str:
    if ":" not in policy:
        return ""
    path = Path(policy.split(":", 1)[1])
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def cell_key(policy: str, context: PolicyContext, seeds: Sequence[int]) -> str:
    settings = {
        "policy": policy,
        "model": _model_digest(policy),
        "persona": str(context.persona),
        "ablate": list(context.ablate),
        "max_turns": context.max_turns,
        "rewards": repr(context.rewards),
        "policy_seed": context.seed,
        "seeds": [int(seeds[0]), int(seeds[-1]), len(seeds)],
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def evaluate_cell(policy: str, context: PolicyContext, seeds: Sequence[int], folder: Path) -> list[Episode]:
    """The episodes of ``policy`` on ``context`` over ``seeds``, from cache or freshly played."""
    key = cell_key(policy, context, seeds)
    safe = policy.replace(":", "_").replace("/", "_").replace("\\", "_")
    path = folder / f"{context.persona}__{'-'.join(context.ablate) or 'none'}__{safe}.json"
    cached = read_json(path)
    if cached is not None and cached.get("key") == key:
        return [Episode(**{**e, "anger": [], "trust": [], "abusive": []}) for e in cached["episodes"]]
    episodes = run_episodes(policy, context, seeds)
    atomic_write_json(path, {"key": key, "episodes": [{k: getattr(e, k) for k in _COMPACT} for e in episodes]})
    return episodes


def move_by_turn(episodes: Sequence[Episode], max_turns: int) -> np.ndarray:
    """(6, max_turns) share of each move among conversations still going at each turn."""
    counts = np.zeros((len(Move), max_turns))
    for ep in episodes:
        for t, move in enumerate(ep.moves[:max_turns]):
            counts[move, t] += 1
    totals = counts.sum(0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def returns(episodes: Sequence[Episode]) -> np.ndarray:
    return np.array([e.ret for e in episodes], dtype=float)


def summary(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Return, success and outcome shares of a list of episodes."""
    n = len(episodes)
    outcomes = [e.outcome for e in episodes]
    return {
        "episodes": n,
        "return_mean": float(np.mean(returns(episodes))),
        "successes": int(sum(e.success for e in episodes)),
        "success_rate": sum(e.success for e in episodes) / n,
        "walk_away_rate": outcomes.count("walked_away") / n,
        "abuse_end_rate": outcomes.count("ended_after_abuse") / n,
        "mean_turns": float(np.mean([e.turns for e in episodes])),
    }
