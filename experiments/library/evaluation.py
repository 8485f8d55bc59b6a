"""Evaluation cells and scores, shared by the benchmark, the report and the ablations.

A *cell* is one policy on one persona (and ablation, turn limit) over fixed environment
seeds. :func:`evaluate_cell` plays it, or reads it back: its episodes are stored compactly
in a JSON file as soon as they are played, keyed by everything that determines them
(policy, model file digest, persona, ablation, turn limit, rewards, seeds), so an
interrupted run resumes and a changed setting recomputes. :func:`score_policy` turns a
cell into a normalized score (exact where the
tables allow: every memoryless policy, learned MLPs on the plain observation included;
else Monte Carlo with an interval; stored in the cell file too); :func:`score_seeds`
scores a learner trained on several seeds (IQM with a stratified bootstrap interval that
includes each seed's evaluation noise). :func:`summarize` and :func:`reliability` give the rates.
:func:`evaluate_grid` does all of it for policies x personas, the loop the benchmark,
the report and the ablations share.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import Z95, exact_value, monte_carlo
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.customer_models import Move
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.progress import progress_bar
from difficult_customer.experiments.library.rollouts import Episode, run_episodes
from difficult_customer.experiments.library.scores import iqm_ci, pass_hat_k, reference_values
from difficult_customer.experiments.library.stats import mean_ci, wilson_ci

_COMPACT = ("seed", "persona", "outcome", "ret", "turns", "moves", "reactions", "tones", "solved_before")
"""The Episode fields a cell file keeps (the hidden anger, trust and abuse are left out)."""

KS = (1, 2, 4, 8)
"""The k of the pass^k reliability columns."""


def _model_digest(policy: str) -> str:
    path = agents.spec(policy).path
    if path is None:
        return ""
    path = path if path.exists() else path.with_suffix(".zip")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def cell_key(policy: str, context: PolicyContext, seeds: Sequence[int]) -> str:
    """A digest of everything that determines a cell's episodes."""
    settings = {
        "policy": policy,
        "model": _model_digest(policy),
        "persona": str(context.persona),
        "ablate": list(context.ablate),
        "max_turns": context.max_turns,
        "rewards": repr(context.rewards),
        "policy_seed": context.seed,
        "seeds": [int(s) for s in seeds] if len(seeds) <= 3 else [int(seeds[0]), int(seeds[-1]), len(seeds)],
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def cell_path(folder: str | Path, policy: str, context: PolicyContext) -> Path:
    """The file of a cell in ``folder``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", policy).strip("_")
    return Path(folder) / f"{context.persona}__{'-'.join(context.ablate) or 'none'}__{safe}.json"


def evaluate_cell(
    policy: str,
    context: PolicyContext,
    seeds: Sequence[int],
    folder: str | Path,
    resume: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> list[Episode]:
    """The episodes of ``policy`` on ``context`` over ``seeds``, read back or freshly played.

    Args:
        policy: a registered policy name or a model path (see ``agents.spec``).
        context: the environment; a policy that needs the full observation gets it.
        seeds: one environment seed per episode.
        folder: where cell files live.
        resume: reuse a stored cell with the same settings (False: play again).
        progress: called with the number of episodes done (e.g. a tqdm ``update``).
    """
    seeds = [int(s) for s in seeds]
    key = cell_key(policy, context, seeds)
    path = cell_path(folder, policy, context)
    cached = read_json(path) if resume else None
    if cached is not None and cached.get("key") == key:
        if progress is not None:
            progress(len(seeds))
        return [Episode(**{**e, "anger": [], "trust": [], "abusive": []}) for e in cached["episodes"]]
    episodes = run_episodes(policy, context, seeds, progress=progress)
    atomic_write_json(path, {"key": key, "episodes": [{k: getattr(e, k) for k in _COMPACT} for e in episodes]})
    return episodes


def returns(episodes: Sequence[Episode]) -> np.ndarray:
    """The return of every episode."""
    return np.array([e.ret for e in episodes], dtype=float)


def summarize(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Mean return (95% t-interval), success (Wilson interval), outcome rates and mean turns of a cell.

    Raises:
        ValueError: for no episodes.
    """
    n = len(episodes)
    if n == 0:
        raise ValueError("summarize needs at least one episode")
    ret, ret_lo, ret_hi = mean_ci(returns(episodes))
    successes = int(sum(e.success for e in episodes))
    succ, succ_lo, succ_hi = wilson_ci(successes, n)
    outcomes = [e.outcome for e in episodes]
    return {
        "episodes": n,
        "return_mean": ret,
        "return_ci_low": ret_lo,
        "return_ci_high": ret_hi,
        "successes": successes,
        "success_rate": succ,
        "success_ci_low": succ_lo,
        "success_ci_high": succ_hi,
        "solved_rate": sum(o in ("solved", "solved_and_followed_up") for o in outcomes) / n,
        "walk_away_rate": outcomes.count("walked_away") / n,
        "abuse_end_rate": outcomes.count("ended_after_abuse") / n,
        "timeout_rate": outcomes.count("timed_out") / n,
        "mean_turns": sum(e.turns for e in episodes) / n,
    }


def reliability(episodes: Sequence[Episode], ks: Sequence[int] = KS) -> dict[str, Any]:
    """Success rate, walk-away rate and pass^k: the chance that k conversations in a row all succeed."""
    s = summarize(episodes)
    out = {"success_rate": s["success_rate"], "episodes": s["episodes"], "walk_away_rate": s["walk_away_rate"]}
    for k in ks:
        out[f"pass^{k}"] = pass_hat_k(s["successes"], s["episodes"], k)
    return out


def move_by_turn(episodes: Sequence[Episode], max_turns: int) -> np.ndarray:
    """(6, max_turns) share of each move among conversations still going at each turn."""
    counts = np.zeros((len(Move), max_turns))
    for ep in episodes:
        for t, move in enumerate(ep.moves[:max_turns]):
            counts[move, t] += 1
    totals = counts.sum(0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _normalized(value: float, low: float, high: float, refs: dict[str, float]) -> dict[str, float]:
    return {
        "normalized": normalize(value, refs["random"], refs["oracle"]),
        "normalized_low": normalize(low, refs["random"], refs["oracle"]),
        "normalized_high": normalize(high, refs["random"], refs["oracle"]),
    }


def is_memoryless(policy: str) -> bool:
    """Whether ``policy``'s move is a deterministic function of the current partial observation.

    Every scripted policy is, and so is a learned model without memory (an MLP trained on
    the plain observation: PPO, A2C, DQN acting deterministically); a recurrent model, a
    model given belief features, the belief-based exact policies and the oracle (which
    reads the hidden state) are not.
    """
    entry = agents.spec(policy)
    return not entry.memory and entry.decides_on == "partial"


def policy_value(
    policy: str, context: PolicyContext, episodes: Sequence[Episode] | None = None, mc_episodes: int = 0
) -> dict[str, Any]:
    """The expected return of ``policy`` in ``context``, with how it was obtained.

    Exact (no interval) where the tables allow it: every memoryless policy (scripted ones,
    and learned models that read only the current observation, :func:`is_memoryless`),
    the oracle and random, and belief-based policies short enough to enumerate. Otherwise
    Monte Carlo: ``mc_episodes`` conversations played in lockstep if given, else the mean
    of ``episodes`` (the cell's own conversations), with a 95% interval.

    Returns:
        ``{"return", "return_low", "return_high", "stderr", "source", "interval",
        "episodes"}`` with source ``"exact"`` (stderr 0, episodes 0) or ``"monte carlo"``.

    Raises:
        ValueError: if neither ``episodes`` nor ``mc_episodes`` is given for a policy that
            cannot be valued exactly.
    """

    entry = agents.spec(policy)
    own = entry.context_for(context)
    built = agents.make(policy, own)
    if not entry.learned:
        exact = exact_value(built, own)
    elif is_memoryless(policy):
        exact = exact_value(built, own, memoryless=True)
    else:
        exact = None
    if exact is not None:
        return {"return": exact, "return_low": exact, "return_high": exact, "stderr": 0.0, "source": "exact",
                "interval": "exact", "episodes": 0}
    if mc_episodes > 0:
        mc = monte_carlo(built, own, mc_episodes, seed=context.seed or 0)
        (low, high) = mc.ci95
        return {"return": float(mc.mean), "return_low": float(low), "return_high": float(high),
                "stderr": float(mc.stderr), "source": "monte carlo",
                "interval": f"95% interval over {mc_episodes} conversations", "episodes": int(mc_episodes)}
    if not episodes:
        raise ValueError(f"policy {policy!r} cannot be valued exactly; give its episodes or mc_episodes >= 1")
    mean, low, high = mean_ci(returns(episodes))
    return {"return": mean, "return_low": low, "return_high": high, "stderr": (high - low) / (2 * Z95),
            "source": "monte carlo", "interval": f"95% t-interval over {len(episodes)} conversations",
            "episodes": len(episodes)}


def score_policy(
    policy: str,
    context: PolicyContext,
    refs: dict[str, float],
    episodes: Sequence[Episode] | None = None,
    mc_episodes: int = 0,
    folder: str | Path | None = None,
) -> dict[str, Any]:
    """The score of one policy: its value (:func:`policy_value`) and that value normalized by ``refs``.

    ``normalized = (J - J_random) / (J_oracle - J_random)``: 0 is random, 1 the oracle.
    With ``folder`` the score is stored in the policy's cell file and read back when its
    settings match.

    Returns:
        ``{"kind", "return", "return_low", "return_high", "normalized", "normalized_low",
        "normalized_high", "source", "interval"}``.
    """
    path = cell_path(folder, policy, context) if folder is not None else None
    seeds = [e.seed for e in episodes] if episodes else []
    key = json.dumps({"cell": cell_key(policy, context, seeds) if seeds else cell_key(policy, context, [0]),
                      "mc_episodes": mc_episodes, "refs": refs}, sort_keys=True)
    stored = read_json(path) if path is not None else None
    if stored is not None and key in stored.get("scores", {}):
        return stored["scores"][key]
    value = policy_value(policy, context, episodes, mc_episodes)
    score = {"kind": agents.spec(policy).kind, **value,
             **_normalized(value["return"], value["return_low"], value["return_high"], refs)}
    if path is not None:
        data = stored if stored is not None else {}
        data.setdefault("scores", {})[key] = score
        atomic_write_json(path, data)
    return score


def score_seeds(per_seed: Sequence[float | dict[str, Any]], refs: dict[str, float], seed: int = 0) -> dict[str, Any]:
    """The score of a learner trained on several seeds: IQM of the normalized per-seed values.

    Args:
        per_seed: one entry per training seed: a :func:`score_policy` result (its exact
            value, or its Monte Carlo mean with the standard error), or a plain mean return
            (then treated as exact, which it is not: prefer the scores).
        refs: the references the scores are normalized by.
        seed: seed of the bootstrap.

    The interval is a 95% stratified bootstrap over seeds (seeded by ``seed``); where the
    per-seed values are Monte Carlo estimates, each resampled value also carries its own
    evaluation noise (:func:`~experiments.library.scores.iqm_ci` with ``stderr``). With one
    seed and an exact value there is no interval: ``normalized_low == normalized_high``
    and ``seeds == 1`` say so (the report prints "1 seed, exact").

    Raises:
        ValueError: for no seeds.
    """
    if not per_seed:
        raise ValueError("score_seeds needs at least one seed's value")
    values, errors, sources = [], [], []
    span = refs["oracle"] - refs["random"]
    for entry in per_seed:
        if isinstance(entry, dict):
            values.append(float(entry["return"]))
            errors.append(float(entry.get("stderr", 0.0)))
            sources.append(str(entry.get("source", "exact")))
        else:
            values.append(float(entry))
            errors.append(0.0)
            sources.append("mean of the cell")
    normalized = [normalize(v, refs["random"], refs["oracle"]) for v in values]
    point, low, high = iqm_ci(np.array(normalized)[:, None], seed=seed, stderr=np.array(errors) / span)
    n = len(normalized)
    exact = all(s == "exact" for s in sources)
    how = "exact per seed" if exact else "Monte Carlo per seed, evaluation noise included"
    return {
        "kind": "learned",
        "return": float(np.mean(values)),
        "normalized": point,
        "normalized_low": low,
        "normalized_high": high,
        "per_seed": normalized,
        "per_seed_stderr": [e / span for e in errors],
        "per_seed_source": sources,
        "seeds": n,
        "source": "iqm",
        "exact_per_seed": exact,
        "interval": (f"1 seed ({how})" if n == 1 else f"IQM over {n} seeds ({how}), 95% stratified bootstrap"),
    }


@dataclass
class Grid:
    """Policies x personas evaluated on the same seeds: episodes, scores and the references they are normalized by."""

    personas: list[str]
    policies: list[str]
    seeds: list[int]
    contexts: dict[str, PolicyContext] = field(default_factory=dict)
    """Persona -> the context its cells were played in."""
    references: dict[str, dict[str, float]] = field(default_factory=dict)
    """Persona -> exact expected returns of random and the oracle (:func:`reference_values`)."""
    episodes: dict[tuple[str, str], list[Episode]] = field(default_factory=dict)
    """(persona, policy) -> the cell's episodes."""
    scores: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(persona, policy) -> :func:`score_policy` (for the policies that were scored)."""

    def pooled(self, persona: str, policies: Sequence[str]) -> list[Episode]:
        """The episodes of several policies on one persona, one after the other (e.g. a learner's seeds)."""
        return [e for policy in policies for e in self.episodes[(persona, policy)]]


def evaluate_grid(
    policies: Sequence[str],
    personas: Sequence[str],
    seeds: Sequence[int],
    folder: str | Path,
    *,
    ablate: Sequence[str] = (),
    max_turns: int = DEFAULT_MAX_TURNS,
    seed: int = 0,
    mc_episodes: int = 0,
    score: Sequence[str] | None = None,
    resume: bool = True,
    progress: bool = True,
    learned_mc_episodes: int | None = None,
    play: Sequence[str] | None = None,
) -> Grid:
    """Play (or read back) every cell of ``policies`` x ``personas`` and score them.

    Args:
        policies: registered names or model paths.
        personas: personas or mixtures.
        seeds: the environment seeds of every cell (common random numbers).
        folder: where the cell files live (resumable).
        ablate, max_turns: the customer model.
        seed: the policies' own random seed.
        mc_episodes: see :func:`policy_value`.
        score: the policies to score (None: all of them); the others keep only episodes.
        resume: reuse stored cells.
        progress: show a bar counting episodes.
        learned_mc_episodes: Monte Carlo conversations for learned policies with memory
            (None: ``mc_episodes``); memoryless learned policies are valued exactly.
        play: the personas whose cells are played (None: all). On the others only the
            scores are computed (exact, or Monte Carlo on ``mc_episodes``, which must then
            be >= 1), and ``grid.episodes`` has no entry.

    Raises:
        ValueError: for a persona in ``play`` that is not in ``personas``, or ``play`` leaving
            out a persona while ``mc_episodes`` < 1.
    """
    played = list(personas) if play is None else list(play)
    for persona in played:
        if persona not in personas:
            raise ValueError(f"play={played!r}: {persona!r} is not one of the personas {list(personas)!r}")
    if len(played) < len(personas) and mc_episodes < 1:
        raise ValueError(f"mc_episodes={mc_episodes}: personas that are not played need Monte Carlo scores; "
                         "allowed is an integer >= 1")
    seeds = [int(s) for s in seeds]
    grid = Grid(list(personas), list(policies), seeds)
    scored = set(policies if score is None else score)
    bar = progress_bar(len(policies) * len(played) * len(seeds), enabled=progress, unit="ep")
    try:
        for persona in personas:
            context = PolicyContext.create(persona=persona, ablate=ablate, max_turns=max_turns, seed=seed)
            grid.contexts[persona] = context
            refs = grid.references[persona] = reference_values(context)
            for policy in policies:
                bar.set_description(f"{persona} / {agents.spec(policy).name}")
                episodes = None
                if persona in played:
                    episodes = evaluate_cell(policy, context, seeds, folder, resume, progress=bar.update)
                    grid.episodes[(persona, policy)] = episodes
                if policy in scored:
                    mc = mc_episodes
                    if learned_mc_episodes is not None and agents.spec(policy).learned:
                        mc = learned_mc_episodes
                    grid.scores[(persona, policy)] = score_policy(policy, context, refs, episodes, mc, folder)
    finally:
        bar.close()
    return grid
