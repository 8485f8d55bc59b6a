"""The research report: train, evaluate every policy, compare with the guides, one command.

Trains the budget's learners (PPO, PPO on belief features, A2C, DQN, RecurrentPPO) on the
mixture, evaluates every policy (scripted, exact, learned) on every persona over the
same seeds, and writes a folder with report.md, PNG figures and results.json. Every
number in report.md is formatted from results.json. Training runs and evaluation cells
are saved as they finish: running the same command again skips what is done.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate, compile_model
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library import plots
from difficult_customer.experiments.library.budgets import BudgetName, budget, eval_seeds
from difficult_customer.experiments.library.conformance import RULES, conformance
from difficult_customer.experiments.library.evaluation import (
    KS,
    evaluate_grid,
    move_by_turn,
    reliability,
    returns,
    score_seeds,
)
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.scores import normalize
from difficult_customer.experiments.library.training import train_all, versions

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent")


@dataclass
class Config:
    """Settings of the report."""

    budget: BudgetName = "default"
    """Named budget (experiments/library/budgets.py): default (4-6 minutes on two cores), quick (1-2), tiny (tests)."""
    quick: bool = False
    """Shorthand for --budget quick."""
    out: str = "results/report"
    """Folder for report.md, results.json, the figures, training runs and evaluation cells."""
    seed: int = 0
    """Training seeds are seed, seed + 1, ...; evaluation seeds are derived from it too."""
    train_persona: str = "mixture"
    """Persona or mixture the learners train on; the report leads with it."""
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    """Personas every policy is evaluated on."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model turned off, e.g. C4 C6."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    workers: int = 2
    """Training runs in parallel (one per core)."""
    n_envs: int = 8
    """Environments stepped together while training."""
    progress: bool = True
    """Show progress bars on stderr."""

    @property
    def budget_name(self) -> str:
        """The budget used: quick with --quick, else --budget."""
        return "quick" if self.quick else self.budget

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        budget(self.budget_name)
        check_ablate(self.ablate)
        for persona in [self.train_persona, *self.personas]:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        if not self.personas:
            raise ValueError("personas=[]; allowed is one or more personas")
        if self.workers < 1:
            raise ValueError(f"workers={self.workers}; allowed is an integer >= 1")


ReportConfig = Config
"""The report's settings under a descriptive name, for library callers."""


def build_results(config: Config) -> dict[str, Any]:
    """Everything the report shows, as plain data (also written as results.json)."""
    config.validate()
    plan = budget(config.budget_name)
    started = time.perf_counter()
    importlib.import_module("difficult_customer.agents.exact")  # registers the exact policies

    trained = train_all(plan, out=config.out, seed=config.seed, persona=config.train_persona, ablate=config.ablate,
                        max_turns=config.max_turns, n_envs=config.n_envs, workers=config.workers,
                        progress=config.progress)
    fixed = [n for n in agents.names() if not agents.spec(n).learned]
    learned = {learner: [r["policy"] for r in runs] for learner, runs in trained.items()}
    seeds = eval_seeds(config.seed, plan.eval_episodes)
    all_names = fixed + [n for names in learned.values() for n in names]
    grid = evaluate_grid(all_names, config.personas, seeds, Path(config.out) / "cells", ablate=config.ablate,
                         max_turns=config.max_turns, seed=config.seed, mc_episodes=plan.mc_episodes, score=fixed,
                         progress=config.progress)
    references = grid.references
    scores: dict[str, dict[str, Any]] = {persona: {} for persona in config.personas}
    reliabilities: dict[str, dict[str, Any]] = {persona: {} for persona in config.personas}
    for persona in config.personas:
        for name in fixed:
            scores[persona][name] = grid.scores[(persona, name)]
            reliabilities[persona][name] = reliability(grid.episodes[(persona, name)])
        for learner, names in learned.items():
            per_seed = [float(returns(grid.episodes[(persona, n)]).mean()) for n in names]
            scores[persona][learner] = score_seeds(per_seed, references[persona], seed=config.seed)
            reliabilities[persona][learner] = reliability(grid.pooled(persona, names))

    main_persona = config.train_persona if config.train_persona in config.personas else config.personas[0]
    groups = {name: [name] for name in fixed} | learned
    conf = {g: conformance(grid.pooled(main_persona, names)) for g, names in groups.items()}
    strategies = {g: move_by_turn(grid.pooled(main_persona, names), config.max_turns).tolist()
                  for g, names in groups.items()}
    curves = {}
    for learner, runs in trained.items():
        refs = references[main_persona]
        steps = [s for s, _ in runs[0]["curve"]]
        rows = [[normalize(v, refs["random"], refs["oracle"]) for _, v in r["curve"]] for r in runs]
        width = min(len(r) for r in rows)
        curves[learner] = {"steps": steps[:width], "scores": [r[:width] for r in rows]}

    results = {
        "settings": {
            "budget": config.budget_name,
            "algorithms": {a: {"steps": s, "seeds": n} for a, (s, n) in plan.learners.items()},
            "training_seeds": {a: [r["config"]["seed"] for r in runs] for a, runs in trained.items()},
            "train_persona": config.train_persona,
            "eval_episodes": plan.eval_episodes,
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
        "reliability": reliabilities,
        "conformance": conf,
        "strategies": strategies,
        "curves": curves,
        "training": {a: [{"seed": r["config"]["seed"], "final_return": r["final_return"], "wall_seconds":
                          r["wall_seconds"], "model": r["model"]} for r in runs] for a, runs in trained.items()},
    }
    results["headline"] = headline(results, main_persona)
    focus = results["headline"].get("best_learned")
    if focus:
        context = PolicyContext.create(persona=main_persona, ablate=config.ablate, max_turns=config.max_turns,
                                       seed=config.seed)
        results["transcripts"] = example_transcripts(learned[focus][0], context, seeds[:3])
    results["settings"]["wall_seconds"] = time.perf_counter() - started
    return results


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
    atomic_write_text(out / "report.md", render_markdown(results))
    return out / "report.md"


def fmt(x: float | None, digits: int = 3) -> str:
    """The one number format of the report (tests parse it back)."""
    return "n/a" if x is None else f"{x:.{digits}f}"


def score_cell(v: dict[str, Any]) -> str:
    """A normalized score as the report prints it: exact, or with its interval."""
    if v.get("source") == "exact":
        return f"{fmt(v['normalized'])} (exact)"
    return f"{fmt(v['normalized'])} [{fmt(v['normalized_low'])}, {fmt(v['normalized_high'])}]"


Section = Callable[[dict[str, Any]], list[str]]
"""A report section: the results in, markdown lines out (empty to leave the section out)."""


def section_headline(results: dict[str, Any]) -> list[str]:
    """The numbers the report leads with (:func:`headline`)."""
    h = results["headline"]
    refs = results["references"][h["persona"]]
    out = ["## Headline", ""]
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
    return out


def section_scores(results: dict[str, Any]) -> list[str]:
    """Every policy's normalized score on every persona."""
    out = ["## Scores", ""]
    personas = list(results["scores"])
    names = list(results["scores"][personas[0]])
    out.append("| policy | kind | " + " | ".join(personas) + " |")
    out.append("|---|---|" + "---|" * len(personas))
    for n in names:
        cells = [score_cell(results["scores"][p][n]) for p in personas]
        out.append(f"| {n} | {results['scores'][personas[0]][n]['kind']} | " + " | ".join(cells) + " |")
    algos = results["settings"]["algorithms"]
    out += ["", "Scripted policies, random, the oracle and the best fixed sequence: exact expected return (no "
            "interval). Belief-based policies: Monte Carlo with a 95% interval. "
            "Learned: interquartile mean over seeds (" + ", ".join(f"{a} {v['seeds']}" for a, v in algos.items())
            + ") with a 95% stratified bootstrap interval; with so few seeds the IQM is close to the mean.", "",
            "![scores](scores.png)", ""]
    return out


def section_reliability(results: dict[str, Any]) -> list[str]:
    """Success and pass^k on the main persona."""
    persona = results["headline"]["persona"]
    out = ["## Reliability", "", f"Success (solved and followed up) and pass^k on {persona}: the chance that k "
           "conversations in a row all succeed.", ""]
    out.append("| policy | success | " + " | ".join(f"pass^{k}" for k in KS) + " |")
    out.append("|---|---|" + "---|" * len(KS))
    for n, v in results["reliability"][persona].items():
        out.append(f"| {n} | {fmt(v['success_rate'])} | " + " | ".join(fmt(v[f'pass^{k}']) for k in KS) + " |")
    return [*out, ""]


def section_curves(results: dict[str, Any]) -> list[str]:
    """The learning curves figure (none without learners)."""
    return ["## Learning curves", "", "![learning curves](learning_curves.png)", ""] if results["curves"] else []


def section_conformance(results: dict[str, Any]) -> list[str]:
    """The share of conversations following each guide rule, per policy."""
    out = ["## Conformance to the guides", "", "Share of conversations (where the rule applies) in which each "
           "rule holds. " + "; ".join(f"{r}: {t}" for r, t in RULES.items()) + ".", ""]
    out.append("| policy | " + " | ".join(RULES) + " |")
    out.append("|---|" + "---|" * len(RULES))
    for n, rules in results["conformance"].items():
        out.append(f"| {n} | " + " | ".join(fmt(rules[r]["rate"]) for r in RULES) + " |")
    return [*out, "", "![conformance](conformance.png)", ""]


def section_strategies(results: dict[str, Any]) -> list[str]:
    """Moves by turn, and example conversations of the best learned policy."""
    out = ["## Strategies", "", "Share of each move at each turn.", "", "![strategies](strategies.png)", ""]
    if results.get("transcripts"):
        out += [f"### Example conversations of {results['headline']['best_learned']}", ""]
        for t in results["transcripts"]:
            out += [f"Seed {t['seed']}, outcome {t['outcome']}:", "", "```text", t["text"].rstrip(), "```", ""]
    return out


def section_settings(results: dict[str, Any]) -> list[str]:
    """Budget, seeds, versions, wall time and the command that reproduces the report."""
    st = results["settings"]
    out = ["## Settings", ""]
    out.append(f"- Budget {st['budget']}: " + ", ".join(f"{a} {v['steps']} steps x {v['seeds']} seeds"
                                                        for a, v in st["algorithms"].items()))
    out.append(f"- Trained on {st['train_persona']}; evaluation seeds {st['eval_seeds'][0]}-{st['eval_seeds'][1]}; "
               f"ablated claims: {', '.join(st['ablate']) or 'none'}; max turns {st['max_turns']}; "
               f"{st['state_space']} hidden states.")
    out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in st["versions"].items()))
    out.append(f"- Wall time: {st['wall_seconds']:.0f} s")
    out.append(f"- Reproduce: `difficult-customer report --budget {st['budget']} --seed {st['config']['seed']}`")
    return out


SECTIONS: list[Section] = [
    section_headline,
    section_scores,
    section_reliability,
    section_curves,
    section_conformance,
    section_strategies,
    section_settings,
]
"""The sections of report.md, in order; a new section is a function added here."""


def render_markdown(results: dict[str, Any], sections: Sequence[Section] | None = None) -> str:
    """report.md: the title, then every section's lines."""
    out = ["# What reinforcement learning learns about a difficult customer", ""]
    for section in SECTIONS if sections is None else sections:
        out += section(results)
    return "\n".join(out).rstrip("\n") + "\n"


def main(config: Config) -> int:
    """Build the results, write the report; 2 on bad settings."""
    try:
        results = build_results(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_report(results, Path(config.out))
    print(f"report: {path} ({results['settings']['wall_seconds']:.0f} s)")
    return 0
