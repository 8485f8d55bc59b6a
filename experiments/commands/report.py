"""The research report: train, evaluate every policy, compare with the guides, one command.

``difficult-customer report`` (about 10 minutes on two cores; ``--quick`` about 2)
trains PPO, A2C, DQN and RecurrentPPO on the mixture, evaluates every policy (scripted,
exact, learned) on every persona over the same seeds, and writes a folder with
``report.md``, PNG figures and ``results.json``. Every number in ``report.md`` is
formatted from ``results.json``. Training runs and evaluation cells are saved as they
finish: running the same command again skips what is done.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import check_ablate, compile_model
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.commands.train import TrainConfig, train, versions
from difficult_customer.experiments.library import plots
from difficult_customer.experiments.library.conformance import RULES, conformance
from difficult_customer.experiments.library.evaluation import evaluate_cell, move_by_turn, returns, summary
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.scores import iqm_ci, normalize, pass_hat_k, reference_values

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent")
KS = (1, 2, 4, 8)
EVAL_SEED_BASE = 500_000_000


@dataclass(frozen=True)
class Budget:
    """What the report trains and how many conversations it evaluates."""

    algos: dict[str, tuple[int, int]]
    """Learner -> (environment steps, number of seeds). A learner is an algorithm name, or
    ``<algo>_belief`` for that algorithm trained with belief features (``observation="belief"``)."""
    eval_episodes: int
    """Conversations per (policy, persona) cell."""
    curve_every: int
    """Steps between learning-curve evaluations."""
    curve_episodes: int
    """Conversations per learning-curve point."""
    belief_episodes: int = 4000
    """Conversations for the score of policies that cannot be evaluated exactly (belief-based)."""


BUDGETS: dict[str, Budget] = {
    "default": Budget(
        {"ppo": (150_000, 3), "ppo_belief": (150_000, 3), "a2c": (100_000, 2), "dqn": (100_000, 2),
         "recurrent_ppo": (40_000, 2)}, 500, 15_000, 200
    ),
    "quick": Budget({"ppo": (40_000, 2), "ppo_belief": (40_000, 1), "a2c": (20_000, 1), "dqn": (20_000, 1),
                     "recurrent_ppo": (6_000, 1)}, 200,
                    10_000, 100, belief_episodes=2000),
    "tiny": Budget({"ppo": (2_048, 2), "ppo_belief": (1_024, 1)}, 24, 1_024, 16, belief_episodes=200),
}


@dataclass
class ReportConfig:
    budget: str = "default"
    """default (about 10 minutes), quick (about 2) or tiny (tests)."""
    out: str = "results/report"
    seed: int = 0
    """Training seeds are seed, seed + 1, ...; evaluation seeds are fixed from it too."""
    train_persona: str = "mixture"
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    ablate: list[str] = field(default_factory=list)
    max_turns: int = DEFAULT_MAX_TURNS
    workers: int = 2
    """Training runs in parallel (one per core)."""
    n_envs: int = 8

    def validate(self) -> None:
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; allowed: {', '.join(BUDGETS)}")
        check_ablate(self.ablate)
        if self.workers < 1:
            raise ValueError(f"workers={self.workers}; allowed is an integer >= 1")


def split_learner(learner: str) -> tuple[str, str]:
    """``"ppo_belief"`` -> ``("ppo", "belief")``; ``"ppo"`` -> ``("ppo", "partial")``."""
    if learner.endswith("_belief"):
        return learner[: -len("_belief")], "belief"
    return learner, "partial"


def _train_one(config: TrainConfig) -> dict[str, Any]:
    return train(config, progress=False)


def train_all(config: ReportConfig, budget: Budget) -> dict[str, list[dict[str, Any]]]:
    """Train (or reuse) every run of the budget; returns algorithm -> run results."""
    runs = []
    learners = []
    for learner, (steps, n_seeds) in budget.algos.items():
        algo, observation = split_learner(learner)
        for i in range(n_seeds):
            learners.append(learner)
            runs.append(TrainConfig(
                algo=algo, observation=observation, persona=config.train_persona, ablate=list(config.ablate), max_turns=config.max_turns,
                steps=steps, seed=config.seed + i, n_envs=config.n_envs, eval_every=budget.curve_every,
                eval_episodes=budget.curve_episodes, out=str(Path(config.out) / "runs"),
            ))
    results: dict[str, list[dict[str, Any]]] = {learner: [] for learner in budget.algos}
    bar = _bar(len(runs), "training")
    if config.workers == 1:
        finished = map(_train_one, runs)
        for learner, result in zip(learners, finished, strict=True):
            results[learner].append(result)
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=config.workers) as pool:
            for learner, result in zip(learners, pool.map(_train_one, runs), strict=True):
                results[learner].append(result)
                bar.update(1)
    bar.close()
    return results


def _bar(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)


def build_results(config: ReportConfig) -> dict[str, Any]:
    """Everything the report shows, as plain data (also written as results.json)."""
    config.validate()
    budget = BUDGETS[config.budget]
    started = time.perf_counter()
    importlib.import_module("difficult_customer.agents.exact")  # registers the exact policies

    trained = train_all(config, budget)
    scripted = [n for n in agents.names() if agents.spec(n).kind in ("baseline", "guide", "adaptive", "exact", "oracle")]
    learned = {algo: [r["policy_name"] for r in runs] for algo, runs in trained.items()}
    seeds = list(range(EVAL_SEED_BASE + config.seed * 100_003, EVAL_SEED_BASE + config.seed * 100_003
                       + budget.eval_episodes))
    cells_dir = Path(config.out) / "cells"

    scores: dict[str, dict[str, Any]] = {}
    reliability: dict[str, dict[str, Any]] = {}
    references: dict[str, dict[str, float]] = {}
    episodes_by: dict[tuple[str, str], list] = {}
    all_names = scripted + [n for names in learned.values() for n in names]
    bar = _bar(len(all_names) * len(config.personas), "evaluating")
    for persona in config.personas:
        context = PolicyContext.create(persona=persona, ablate=config.ablate, max_turns=config.max_turns,
                                       seed=config.seed)
        refs = reference_values(context)
        references[persona] = refs
        scores[persona], reliability[persona] = {}, {}
        for name in all_names:
            bar.set_description(f"{persona} / {name.split('/')[-3] if ':' in name else name}")
            episodes_by[(persona, name)] = evaluate_cell(name, context, seeds, cells_dir)
            bar.update(1)
        for name in scripted:
            eps = episodes_by[(persona, name)]
            scores[persona][name] = scripted_score(name, context, eps, refs, budget)
            reliability[persona][name] = _reliability(eps)
        for algo, names in learned.items():
            per_seed = [normalize(float(returns(episodes_by[(persona, n)]).mean()), refs["random"], refs["oracle"])
                        for n in names]
            point, low, high = iqm_ci(np.array(per_seed)[:, None], seed=config.seed)
            scores[persona][algo] = {
                "kind": "learned",
                "return": float(np.mean([returns(episodes_by[(persona, n)]).mean() for n in names])),
                "normalized": point,
                "normalized_low": low,
                "normalized_high": high,
                "per_seed": per_seed,
                "interval": f"IQM over {len(names)} seeds, 95% stratified bootstrap",
            }
            pooled = [e for n in names for e in episodes_by[(persona, n)]]
            reliability[persona][algo] = _reliability(pooled)
    bar.close()

    main = config.train_persona if config.train_persona in config.personas else config.personas[0]
    groups = {name: [name] for name in scripted} | learned
    conf = {g: conformance([e for n in names for e in episodes_by[(main, n)]]) for g, names in groups.items()}
    strategies = {g: move_by_turn([e for n in names for e in episodes_by[(main, n)]], config.max_turns).tolist()
                  for g, names in groups.items()}
    curves = {}
    for algo, runs in trained.items():
        refs = references[config.train_persona] if config.train_persona in references else references[main]
        steps = [s for s, _ in runs[0]["curve"]]
        rows = [[normalize(v, refs["random"], refs["oracle"]) for _, v in r["curve"]] for r in runs]
        width = min(len(r) for r in rows)
        curves[algo] = {"steps": steps[:width], "scores": [r[:width] for r in rows]}

    results = {
        "settings": {
            "budget": config.budget,
            "algorithms": {a: {"steps": s, "seeds": n} for a, (s, n) in budget.algos.items()},
            "training_seeds": {a: [r["config"]["seed"] for r in runs] for a, runs in trained.items()},
            "train_persona": config.train_persona,
            "eval_episodes": budget.eval_episodes,
            "eval_seeds": [seeds[0], seeds[-1]],
            "ablate": list(config.ablate),
            "max_turns": config.max_turns,
            "n_envs": config.n_envs,
            "versions": versions(),
            "state_space": compile_model(config.train_persona, config.ablate).n_states,
            "config": asdict(config),
        },
        "references": references,
        "scores": scores,
        "reliability": reliability,
        "conformance": conf,
        "strategies": strategies,
        "curves": curves,
        "training": {a: [{"seed": r["config"]["seed"], "final_return": r["final_return"], "wall_seconds":
                          r["wall_seconds"], "model": r["model"]} for r in runs] for a, runs in trained.items()},
    }
    results["headline"] = headline(results, main)
    focus = results["headline"].get("best_learned")
    if focus:
        context = PolicyContext.create(persona=main, ablate=config.ablate, max_turns=config.max_turns, seed=config.seed)
        results["transcripts"] = example_transcripts(learned[focus][0], context, seeds[:3])
    results["settings"]["wall_seconds"] = time.perf_counter() - started
    return results


def scripted_score(name: str, context: PolicyContext, episodes: list, refs: dict[str, float],
                   budget: Budget) -> dict[str, Any]:
    """Score of a scripted, exact or oracle policy: exact where the tables allow, else Monte Carlo.

    Exact evaluation needs no interval. Belief-based policies are scored by
    ``budget.belief_episodes`` conversations played in lockstep (95% interval).
    """
    from difficult_customer.agents.exact.evaluation import exact_value, monte_carlo
    from difficult_customer.experiments.library.rollouts import policy_context_for

    own = policy_context_for(name, context)
    policy = agents.make(name, own)
    exact = exact_value(policy, own)
    if exact is not None:
        value, low, high, interval = exact, exact, exact, "exact"
    else:
        mc = monte_carlo(policy, own, budget.belief_episodes, seed=context.seed or 0)
        value, (low, high) = mc.mean, mc.ci95
        interval = f"95% interval over {budget.belief_episodes} conversations"
    return {
        "kind": agents.spec(name).kind,
        "return": value,
        "normalized": normalize(value, refs["random"], refs["oracle"]),
        "normalized_low": normalize(low, refs["random"], refs["oracle"]),
        "normalized_high": normalize(high, refs["random"], refs["oracle"]),
        "interval": interval,
    }


def example_transcripts(policy: str, context: PolicyContext, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Conversations of ``policy`` rendered as the env renders them (with hidden anger and trust)."""
    from difficult_customer.envs.customer_env import CustomerEnv

    model = agents.make(policy, context)
    env = CustomerEnv(**{**context.env_kwargs(), "render_mode": "ansi"}, render_hidden=True)
    out = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        state, start, done = None, np.ones(1, dtype=bool), False
        while not done:
            action, state = model.predict(obs[None], state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, info = env.step(int(np.asarray(action).reshape(-1)[0]))
            done = terminated or truncated
        out.append({"seed": int(seed), "outcome": info["outcome"], "text": env.render()})
    return out


def _reliability(episodes: list) -> dict[str, Any]:
    s = summary(episodes)
    out = {"success_rate": s["success_rate"], "episodes": s["episodes"], "walk_away_rate": s["walk_away_rate"]}
    for k in KS:
        out[f"pass^{k}"] = pass_hat_k(s["successes"], s["episodes"], k)
    return out


def headline(results: dict[str, Any], persona: str) -> dict[str, Any]:
    """The numbers and sentences the report leads with, computed from the results."""
    sc = results["scores"][persona]
    guides = {n: v["normalized"] for n, v in sc.items() if v["kind"] == "guide"}
    exact = {n: v["normalized"] for n, v in sc.items() if v["kind"] == "exact" and n != "best_fixed_sequence"}
    best_belief = max(exact, key=exact.get) if exact else None
    learned = {n: v["normalized"] for n, v in sc.items() if v["kind"] == "learned"}
    best_learned = max(learned, key=learned.get) if learned else None
    out: dict[str, Any] = {"persona": persona, "best_guide": max(guides, key=guides.get) if guides else None,
                           "best_belief_policy": best_belief, "best_learned": best_learned}
    if best_belief:
        out["oracle_minus_belief"] = 1.0 - exact[best_belief]
        if "best_fixed_sequence" in sc:
            out["belief_minus_fixed"] = exact[best_belief] - sc["best_fixed_sequence"]["normalized"]
    out["guide_minus_random"] = guides
    for learner in ("ppo", "ppo_belief"):
        if learner in sc:
            value = sc[learner]["normalized"]
            out[learner] = value
            out[f"{learner}_beats_every_guide"] = all(value >= g for g in guides.values())
            if best_belief:
                out[f"{learner}_within_0.05_of_belief"] = value >= exact[best_belief] - 0.05
    focus = best_learned or best_belief
    if focus:
        conf = results["conformance"]
        follows = [r for r in RULES if (conf[focus][r]["rate"] or 0) >= 0.9]
        breaks = [r for r in RULES if conf[focus][r]["rate"] is not None and conf[focus][r]["rate"] < 0.5]
        oracle_breaks = [r for r in breaks if "oracle" in conf and conf["oracle"][r]["rate"] is not None
                         and conf["oracle"][r]["rate"] < 0.5]
        partly = [f"{r} ({fmt(conf[focus][r]['rate'])})" for r in RULES
                  if conf[focus][r]["rate"] is not None and 0.5 <= conf[focus][r]["rate"] < 0.9]
        sentence = f"The learned policy ({focus}) follows {', '.join(follows) or 'none of the rules'}"
        if partly:
            sentence += f", partly follows {', '.join(partly)}"
        sentence += f" and breaks {', '.join(breaks) or 'none'}."
        if breaks:
            pays = [r for r in breaks if r in oracle_breaks]
            sentence += (f" The oracle breaks {', '.join(pays)} too, so breaking {'it' if len(pays) == 1 else 'them'}"
                         " pays in this model." if pays else " The oracle keeps those rules, so breaking them does "
                         "not pay: it is a weakness of the learned policy.")
        out["conformance_sentence"] = sentence
    return out


def write_report(results: dict[str, Any], out: Path) -> Path:
    """Write results.json, the figures and report.md (numbers formatted from results)."""
    atomic_write_json(out / "results.json", results)
    persona = results["headline"]["persona"]
    sc = results["scores"][persona]
    refs = results["references"][persona]
    lines_ = {n: v["normalized"] for n, v in sc.items() if v["kind"] == "guide"}
    if results["headline"].get("best_belief_policy"):
        lines_[f"{results['headline']['best_belief_policy']} (belief optimum)"] = sc[
            results["headline"]["best_belief_policy"]]["normalized"]
    if results["curves"]:
        plots.learning_curves(results["curves"], lines_, out / "learning_curves.png",
                              f"Learning curves on {persona} (normalized)")
    names = sorted(sc, key=lambda n: -sc[n]["normalized"])
    plots.score_bars(names, [sc[n]["normalized"] for n in names], [sc[n]["normalized_low"] for n in names],
                     [sc[n]["normalized_high"] for n in names], out / "scores.png", f"Normalized scores on {persona}")
    conf_names = list(results["conformance"])
    matrix = np.array([[np.nan if results["conformance"][n][r]["rate"] is None else results["conformance"][n][r]["rate"]
                        for r in RULES] for n in conf_names])
    plots.heatmap(matrix, conf_names, list(RULES), out / "conformance.png",
                  f"Share of conversations following each rule ({persona})")
    plots.strategy_grid({n: np.array(v) for n, v in results["strategies"].items()}, out / "strategies.png",
                        f"Moves by turn on {persona}")
    md = render_markdown(results, refs)
    atomic_write_text(out / "report.md", md)
    return out / "report.md"


def fmt(x: float | None, digits: int = 3) -> str:
    """The one number format of the report (tests parse it back)."""
    return "n/a" if x is None else f"{x:.{digits}f}"


def score_cell(v: dict[str, Any]) -> str:
    """A normalized score as the report prints it: exact, or with its interval."""
    if v.get("interval") == "exact":
        return f"{fmt(v['normalized'])} (exact)"
    return f"{fmt(v['normalized'])} [{fmt(v['normalized_low'])}, {fmt(v['normalized_high'])}]"


def render_markdown(results: dict[str, Any], refs: dict[str, float]) -> str:
    h = results["headline"]
    st = results["settings"]
    persona = h["persona"]
    out = ["# What reinforcement learning learns about a difficult customer", ""]
    out += ["## Headline", ""]
    if h.get("best_belief_policy"):
        out.append(f"- Hidden information costs {fmt(h['oracle_minus_belief'])} (normalized): the oracle (1.000) "
                   f"against the best belief-based policy, {h['best_belief_policy']}.")
    if "belief_minus_fixed" in h:
        out.append(f"- Adapting is worth {fmt(h['belief_minus_fixed'])}: the best belief-based policy against the "
                   "best fixed sequence of moves.")
    guides = ", ".join(f"{n} {fmt(v)}" for n, v in h["guide_minus_random"].items())
    out.append(f"- Guides above random (0.000): {guides}.")
    if "ppo" in h:
        out.append(f"- PPO on the observation scores {fmt(h['ppo'])}; at least every guide: "
                   f"{h['ppo_beats_every_guide']}; within 0.05 of the belief optimum: "
                   f"{h.get('ppo_within_0.05_of_belief')}.")
    if "ppo_belief" in h:
        out.append(f"- PPO with belief features (the exact filter's marginals, computed from the observation history) "
                   f"scores {fmt(h['ppo_belief'])}; at least every guide: {h['ppo_belief_beats_every_guide']}; within "
                   f"0.05 of the belief optimum: {h.get('ppo_belief_within_0.05_of_belief')}.")
    if h.get("conformance_sentence"):
        out.append(f"- {h['conformance_sentence']}")
    out += ["", f"Scores are normalized: 0 is the random policy ({fmt(refs['random'])} mean return, exact), 1 the "
            f"oracle that sees the hidden state ({fmt(refs['oracle'])}, exact).", ""]

    out += ["## Scores", ""]
    personas = list(results["scores"])
    names = list(results["scores"][personas[0]])
    out.append("| policy | kind | " + " | ".join(personas) + " |")
    out.append("|---|---|" + "---|" * len(personas))
    for n in names:
        cells = []
        for p in personas:
            cells.append(score_cell(results["scores"][p][n]))
        out.append(f"| {n} | {results['scores'][personas[0]][n]['kind']} | " + " | ".join(cells) + " |")
    algos = st["algorithms"]
    out += ["", "Scripted policies, random, the oracle and the best fixed sequence: exact expected return (no "
            "interval). Belief-based policies: Monte Carlo with a 95% interval. "
            "Learned: interquartile mean over seeds (" + ", ".join(f"{a} {v['seeds']}" for a, v in algos.items())
            + ") with a 95% stratified bootstrap interval; with so few seeds the IQM is close to the mean.", "",
            "![scores](scores.png)", ""]

    out += ["## Reliability", "", f"Success (solved and followed up) and pass^k on {persona}: the chance that k "
            "conversations in a row all succeed.", ""]
    rel = results["reliability"][persona]
    out.append("| policy | success | " + " | ".join(f"pass^{k}" for k in KS) + " |")
    out.append("|---|---|" + "---|" * len(KS))
    for n, v in rel.items():
        out.append(f"| {n} | {fmt(v['success_rate'])} | " + " | ".join(fmt(v[f'pass^{k}']) for k in KS) + " |")

    if results["curves"]:
        out += ["", "## Learning curves", "", "![learning curves](learning_curves.png)", ""]

    out += ["", "## Conformance to the guides", "", "Share of conversations (where the rule applies) in which each "
            "rule holds. " + "; ".join(f"{r}: {t}" for r, t in RULES.items()) + ".", ""]
    out.append("| policy | " + " | ".join(RULES) + " |")
    out.append("|---|" + "---|" * len(RULES))
    for n, rules in results["conformance"].items():
        out.append(f"| {n} | " + " | ".join(fmt(rules[r]["rate"]) for r in RULES) + " |")
    out += ["", "![conformance](conformance.png)", ""]

    out += ["## Strategies", "", "Share of each move at each turn.", "", "![strategies](strategies.png)", ""]
    if results.get("transcripts"):
        out += [f"### Example conversations of {h['best_learned']}", ""]
        for t in results["transcripts"]:
            out += [f"Seed {t['seed']}, outcome {t['outcome']}:", "", "```text", t["text"].rstrip(), "```", ""]

    out += ["## Settings", ""]
    out.append(f"- Budget {st['budget']}: " + ", ".join(f"{a} {v['steps']} steps x {v['seeds']} seeds"
                                                        for a, v in algos.items()))
    out.append(f"- Trained on {st['train_persona']}; evaluation seeds {st['eval_seeds'][0]}-{st['eval_seeds'][1]}; "
               f"ablated claims: {', '.join(st['ablate']) or 'none'}; max turns {st['max_turns']}; "
               f"{st['state_space']} hidden states.")
    out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in st["versions"].items()))
    out.append(f"- Wall time: {st['wall_seconds']:.0f} s")
    out.append(f"- Reproduce: `difficult-customer report --budget {st['budget']} --seed {st['config']['seed']}`")
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    d = ReportConfig()
    p = argparse.ArgumentParser(prog="difficult-customer report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the quick budget (about 2 minutes)")
    p.add_argument("--budget", default=None, choices=list(BUDGETS), help="default, quick or tiny")
    p.add_argument("--out", default=d.out)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--ablate", nargs="*", default=[])
    p.add_argument("--workers", type=int, default=d.workers)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    budget = args.budget or ("quick" if args.quick else "default")
    config = ReportConfig(budget=budget, out=args.out, seed=args.seed, ablate=list(args.ablate), workers=args.workers)
    try:
        results = build_results(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_report(results, Path(config.out))
    print(f"report: {path} ({results['settings']['wall_seconds']:.0f} s)")
    return 0
