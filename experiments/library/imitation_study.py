"""The imitation study: one results file that the report's imitation section is built from.

Four parts, each saved as soon as it is done (``parts/<name>.json``, reused when its settings
match, so an interrupted study resumes):

- ``fidelity``: behaviour cloning (BC) of each guide (and of ``tone_reader`` and
  ``belief_lookahead``) from its dataset, scored exactly, next to the policy it imitates;
- ``belief_vs_rl``: BC of ``belief_lookahead``, the best belief-based policy, against PPO from
  scratch trained on as many environment steps as the BC dataset has transitions;
- ``bc_rl``: ConvLab's recipe: BC of the best guide, then PPO fine-tuning, against PPO from
  scratch, at equal steps (both curves exact);
- ``offline``: d3rlpy's discrete CQL, and BC, on the mixed dataset, against the data's own
  score and the certified bracket of the best observation-only policy.

All learners here are memoryless, so every score is exact; intervals are over seeds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer import agents
from difficult_customer.agents.exact.bracket import PRECISE, certified_bracket
from difficult_customer.agents.exact.evaluation import normalized
from difficult_customer.experiments.library import datasets, imitation
from difficult_customer.experiments.library.evaluation import policy_value
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.scores import iqm_ci
from difficult_customer.experiments.library.stats import mean_ci

GUIDES = ("guide_000", "guide_001", "guide_002", "guide_003", "guide_004")
IMITATED = (*GUIDES, "tone_reader", "belief_lookahead")
"""The policies whose datasets are cloned in the fidelity part."""
MIXED_FROM = datasets.DEFAULT_POLICIES
"""The policies the mixed dataset is made of (``difficult-customer datasets``' default)."""
KIND = "imitation"
"""The ``kind`` of the results file."""


@dataclass
class StudyConfig:
    """Settings of the imitation study."""

    data: str = "results/datasets"
    """Folder of the Minari datasets (written there first if missing, as ``difficult-customer datasets``)."""
    out: str = "results/imitation"
    """Folder of imitation.json and the parts it is built from."""
    episodes: int = 10_000
    """Conversations per dataset."""
    seed: int = 0
    """Base seed of the datasets (and of the held-out split)."""
    bc_seeds: int = 3
    """Seeds of each behaviour cloning."""
    rl_seeds: int = 5
    """Seeds of each RL run (PPO from scratch and BC + PPO)."""
    rl_steps: int = 100_000
    """Environment steps of BC + PPO and of PPO from scratch (the SB3 baselines' budget)."""
    eval_every: int = 10_000
    """Steps between the exact evaluations of the RL curves."""
    cql_seeds: int = 3
    """Seeds of offline CQL."""
    mc_episodes: int = 20_000
    """Conversations (seeded) that score a policy the tables cannot value exactly (belief_lookahead)."""
    bracket: dict[str, int] = field(default_factory=lambda: dict(PRECISE))
    """Settings of the certified bracket (``certified_bracket``'s points, depth, lower_depth); the report's."""
    bc: imitation.BCConfig = field(default_factory=imitation.BCConfig)
    cql: imitation.CQLConfig = field(default_factory=imitation.CQLConfig)
    progress: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        for name in ("episodes", "bc_seeds", "rl_seeds", "rl_steps", "cql_seeds", "eval_every", "mc_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")
        self.bc.validate()


def _key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _part(config: StudyConfig, name: str, settings: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict:
    """A part's result: read back if saved with the same settings, else computed and saved."""
    path = Path(config.out) / "parts" / f"{name}.json"
    key = _key(settings)
    saved = read_json(path)
    if saved is not None and saved.get("key") == key:
        return saved["result"]
    start = time.perf_counter()
    result = {**compute(), "seconds": time.perf_counter() - start}
    atomic_write_json(path, {"key": key, "settings": settings, "result": result})
    return result


def summary(values: list[float]) -> dict[str, Any]:
    """Per-seed exact scores with their IQM and a bootstrap interval over seeds (no interval for one seed)."""
    x = np.asarray(values, dtype=float)
    mid, low, high = iqm_ci(x) if x.size > 1 else (float(x[0]), float(x[0]), float(x[0]))
    return {"values": [float(v) for v in x], "iqm": mid, "low": low, "high": high, "seeds": int(x.size)}


def ensure_datasets(config: StudyConfig, setting: datasets.Setting, policies: tuple[str, ...]) -> dict[str, Any]:
    """Each policy's dataset and the mixed one in ``config.data`` (written if missing): id -> what it holds."""
    written = [datasets.write_played(config.data, setting, p, config.episodes, config.seed, progress=config.progress)
               for p in policies]
    written.append(datasets.write_mixed(config.data, setting, MIXED_FROM, config.episodes, config.seed,
                                        progress=config.progress))
    return {w.dataset_id: {"episodes": w.episodes, "steps": w.steps, "mean_return": w.mean_return,
                           "normalized": w.normalized, "bytes": w.bytes, "write_seconds": w.seconds} for w in written}


def bc_scores(config: StudyConfig, demos: imitation.Demonstrations) -> list[dict[str, float]]:
    """BC of ``demos`` with each seed, scored exactly: per seed, the score and the move accuracies."""
    out = []
    for seed in range(config.bc_seeds):
        model = imitation.ppo_model(demos.setting, seed)
        stats = imitation.clone(model, demos, config.bc, seed)
        out.append({**imitation.exact_score(model, demos.setting), **stats})
        model.get_env().close()
    return out


def rl_runs(config: StudyConfig, setting: datasets.Setting, steps: int, folder: str,
            initialize: Callable[[Any], Any] | None = None) -> list[dict[str, Any]]:
    """PPO runs (``rl_seeds`` of them) for ``steps`` steps; ``initialize`` prepares each fresh model (BC)."""
    from difficult_customer.experiments.library.training import train  # the train extra

    runs = []
    context = setting.context()
    for seed in range(config.rl_seeds):
        run = imitation.ppo_config(setting, seed, steps=steps, eval_every=config.eval_every,
                                   out=str(Path(config.out) / "runs" / folder))
        result = train(run, progress=False, initialize=initialize)
        curve = [[int(s), normalized(v, context)] for s, v in result["curve"]]
        runs.append({"seed": seed, "final": normalized(result["final_return"], context), "curve": curve,
                     "model": result["model"]})
    return runs


def run_study(config: StudyConfig, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run (or resume) the study in the mixture setting and write ``imitation.json``; returns its content."""
    config.validate()
    setting = datasets.Setting()
    context = setting.context()
    start = time.perf_counter()
    log(f"datasets in {config.data} ({config.episodes:,} episodes each)")
    made = ensure_datasets(config, setting, IMITATED)

    def demos_of(policy: str) -> imitation.Demonstrations:
        return imitation.demonstrations(datasets.load(datasets.dataset_id(setting, policy), config.data),
                                        seed=config.seed)

    base = {"episodes": config.episodes, "seed": config.seed, "version": datasets.project_version()}
    fidelity = []
    for policy in IMITATED:
        log(f"fidelity: behaviour cloning of {policy}")

        def fidelity_of(policy: str = policy) -> dict[str, Any]:
            demos = demos_of(policy)
            target = policy_value(policy, context, mc_episodes=config.mc_episodes)
            runs = bc_scores(config, demos)
            return {"policy": policy, "kind": agents.spec(policy).kind, "decides_on": agents.spec(policy).decides_on,
                    "policy_normalized": normalized(target["return"], context), "policy_source": target["source"],
                    "policy_low": normalized(target["return_low"], context),
                    "policy_high": normalized(target["return_high"], context), "policy_episodes": target["episodes"],
                    "transitions": int(demos.part(False).size),
                    "bc": summary([r["normalized"] for r in runs]),
                    "held_out_accuracy": summary([r["held_out_accuracy"] for r in runs])}

        fidelity.append(_part(config, f"fidelity-{policy}", {**base, "bc": asdict(config.bc), "seeds": config.bc_seeds,
                                                              "mc_episodes": config.mc_episodes}, fidelity_of))
    belief = next(f for f in fidelity if f["policy"] == "belief_lookahead")
    steps = belief["transitions"]
    log(f"belief_vs_rl: PPO from scratch for {steps:,} steps (the BC dataset's transitions)")
    belief_vs_rl = _part(config, "belief_vs_rl", {**base, "steps": steps, "seeds": config.rl_seeds,
                                                  "eval_every": config.eval_every, "bc": belief["bc"]},
                         lambda: {"steps": steps, "bc": belief["bc"], "policy_normalized": belief["policy_normalized"],
                                  "rl": summary([r["final"] for r in rl_runs(config, setting, steps, "scratch-same")])})
    best = max((f for f in fidelity if f["policy"] in GUIDES), key=lambda f: f["policy_normalized"])["policy"]
    log(f"bc_rl: BC of {best} then PPO, against PPO from scratch, {config.rl_steps:,} steps each")

    def bc_rl() -> dict[str, Any]:
        demos = demos_of(best)
        digest = _key({**base, "bc": asdict(config.bc), "from": best})
        tuned = rl_runs(config, setting, config.rl_steps, f"bc-{best}-{digest}",
                        lambda model: imitation.clone(model, demos, config.bc, seed=int(model.seed or 0)))
        scratch = rl_runs(config, setting, config.rl_steps, "scratch")
        return {"from": best, "steps": config.rl_steps, "eval_every": config.eval_every,
                "bc_rl": {"final": summary([r["final"] for r in tuned]), "curves": [r["curve"] for r in tuned]},
                "rl": {"final": summary([r["final"] for r in scratch]), "curves": [r["curve"] for r in scratch]}}

    bc_rl_result = _part(config, "bc_rl", {**base, "bc": asdict(config.bc), "steps": config.rl_steps,
                                           "seeds": config.rl_seeds, "eval_every": config.eval_every}, bc_rl)
    log(f"offline: discrete CQL on the mixed dataset ({config.cql_seeds} seeds, {config.cql.steps:,} gradient steps)")

    best_row = max(fidelity, key=lambda f: f["policy_normalized"])  # of the policies cloned, all in the mix

    def offline() -> dict[str, Any]:
        demos = demos_of(datasets.MIXED)
        cql = [imitation.exact_score(imitation.offline_cql(demos, config.cql, seed), setting)["normalized"]
               for seed in range(config.cql_seeds)]
        bc = bc_scores(config, demos)
        returns = _episode_returns(demos)
        mean, low, high = (normalized(x, context) for x in mean_ci(returns))  # the project's 95% t-interval
        bracket = certified_bracket(context, **config.bracket)
        return {"cql": summary(cql), "bc": summary([r["normalized"] for r in bc]),
                "data": {"mean": mean, "low": low, "high": high, "episodes": int(returns.size)},
                "best_in_data": {k: best_row[k] for k in ("policy", "policy_normalized", "policy_source")},
                "bracket": [normalized(bracket.lower, context), normalized(bracket.upper, context)],
                "mixed_from": list(MIXED_FROM)}

    offline_result = _part(config, "offline", {**base, "cql": asdict(config.cql), "seeds": config.cql_seeds,
                                               "bc": asdict(config.bc), "bc_seeds": config.bc_seeds,
                                               "bracket": config.bracket}, offline)
    results = {"kind": KIND, "setting": asdict(setting), "config": json.loads(json.dumps(asdict(config))),
               "datasets": made, "fidelity": fidelity, "belief_vs_rl": belief_vs_rl, "bc_rl": bc_rl_result,
               "offline": offline_result, "seconds": time.perf_counter() - start}
    atomic_write_json(Path(config.out) / "imitation.json", results)
    return results


def _episode_returns(demos: imitation.Demonstrations) -> np.ndarray:
    """Each episode's return (the return to go at its first step)."""
    first = np.flatnonzero(np.r_[True, demos.episode[1:] != demos.episode[:-1]])
    return demos.returns_to_go[first]


__all__ = ["GUIDES", "IMITATED", "KIND", "StudyConfig", "bc_scores", "ensure_datasets", "rl_runs", "run_study",
           "summary"]
