"""The report's imitation section, built from one results file (``imitation.json``, ``imitate --study``).

Every sentence here is computed from the numbers it sits beside: :func:`compare` decides
"beats", "falls short of" or "cannot be told apart from" from two intervals, and the
fidelity and offline sentences from the table they summarize.
"""

from __future__ import annotations

import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from difficult_customer.experiments.library.imitation_study import KIND, summary
from difficult_customer.experiments.library.numbers import fmt, interval
from difficult_customer.experiments.library.report.baselines import STORE_NAME, baselines_folder
from difficult_customer.experiments.library.report.results import context_name

RESULTS_FILE = "imitation.json"
"""The study's results file; the committed copy is ``experiments/baselines/imitation.json``."""
REGENERATE = ("difficult-customer imitate --study --out results/imitation && "
              "cp results/imitation/imitation.json experiments/baselines/")
"""The commands that write the results file and commit-ready copy."""
FAITHFUL_GAP = 0.01
"""A clone is called faithful when its score is within this much (normalized) of the policy it imitates."""


def seeds_text(s: dict[str, Any]) -> str:
    """``0.812 [0.790, 0.830] (5 seeds)``; ``0.812 (all 3 seeds)`` when the seeds agree exactly, and
    ``0.812 (3 seeds, spread under 1e-6)`` when they differ by less than six decimals show."""
    if s["seeds"] > 1 and s["high"] - s["low"] >= 1e-6:
        return f"{fmt(s['iqm'])} {interval(s['low'], s['high'])} ({s['seeds']} seeds)"
    if s["seeds"] > 1 and s["high"] > s["low"]:
        return f"{fmt(s['iqm'])} ({s['seeds']} seeds, spread under 1e-6)"
    if s["seeds"] > 1:
        return f"{fmt(s['iqm'])} (all {s['seeds']} seeds)"
    return f"{fmt(s['iqm'])} (1 seed)"


def policy_text(row: dict[str, Any]) -> str:
    """The imitated policy's score: ``0.546 (exact)``, or sampled with its interval and conversations."""
    if row["policy_source"] == "exact" or not row["policy_high"] > row["policy_low"]:
        return f"{fmt(row['policy_normalized'])} (exact)"
    return (f"{fmt(row['policy_normalized'])} {interval(row['policy_low'], row['policy_high'])} "
            f"(sampled, {row['policy_episodes']:,} conversations)")


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """``beats``, ``falls short of`` or ``cannot be told apart from``: ``a``'s interval against ``b``'s."""
    if a["low"] > b["high"]:
        return "beats"
    if a["high"] < b["low"]:
        return "falls short of"
    return "cannot be told apart from"


def gap_text(gap: float) -> str:
    """A clone's score minus its policy's: ``-0.050``; under 0.0005 in full (``+4.2e-07``), since ``+0.000`` hides
    whether the two differ at all; ``0`` when they are equal to rounding (under 1e-12)."""
    if abs(gap) < 1e-12:
        return "0"
    return f"{gap:+.3f}" if abs(gap) >= 0.0005 else f"{gap:+.1e}"


def fidelity_sentence(rows: list[dict[str, Any]]) -> str:
    """How many guides' clones score within :data:`FAITHFUL_GAP` of the guide, and the largest gap."""
    guides = [r for r in rows if r["kind"] == "guide"]
    gaps = {r["policy"]: r["bc"]["iqm"] - r["policy_normalized"] for r in guides}
    close = [p for p, g in gaps.items() if abs(g) <= FAITHFUL_GAP]
    worst = max(gaps, key=lambda p: abs(gaps[p]))
    return (f"Behaviour cloning reproduces {len(close)} of {len(guides)} guides within {FAITHFUL_GAP} of the guide's "
            f"own exact score; the largest gap is {worst}'s, {gap_text(gaps[worst])}.")


def offline_sentence(off: dict[str, Any]) -> str:
    """Where CQL lands: against the data's mean, the best policy in the data and the bracket's lower end."""
    cql, data, lower = off["cql"], off["data"], off["bracket"][0]
    against_data = compare(cql, data)
    best = off["best_in_data"]["policy_normalized"]
    rel_best = "above" if cql["low"] > best else "below" if cql["high"] < best else "level with"
    return (f"Offline CQL on the mixed dataset scores {fmt(cql['iqm'])}: it {against_data} the data's own mean "
            f"({fmt(data['mean'])}), is {rel_best} the best policy in the data ({off['best_in_data']['policy']}, "
            f"{fmt(best)}), and is "
            f"{fmt(lower - cql['iqm'])} below the lower end of the certified bracket ({fmt(lower)}).")


def headline(results: dict[str, Any]) -> list[str]:
    """The section's computed sentences: fidelity, belief imitation against RL, BC + RL against RL, offline RL."""
    belief = results["belief_vs_rl"]
    bc_rl = results["bc_rl"]
    tuned, scratch = bc_rl["bc_rl"]["final"], bc_rl["rl"]["final"]
    return [
        fidelity_sentence(results["fidelity"]),
        f"Imitating belief_lookahead ({belief['steps']:,} transitions) {compare(belief['bc'], belief['rl'])} PPO from "
        f"scratch at the same number of environment steps ({fmt(belief['bc']['iqm'])} against "
        f"{fmt(belief['rl']['iqm'])}).",
        f"Behaviour cloning of {bc_rl['from']} followed by PPO {compare(tuned, scratch)} PPO from scratch after "
        f"{bc_rl['steps']:,} steps ({fmt(tuned['iqm'])} against {fmt(scratch['iqm'])}).",
        offline_sentence(results["offline"]),
    ]


def _curve_rows(bc_rl: dict[str, Any]) -> list[str]:
    """One row per evaluation point shared by both arms: IQM over seeds of each."""
    steps = [s for s, _ in bc_rl["rl"]["curves"][0]]
    rows = []
    for k, step in enumerate(steps):
        if k not in (0, 1, 2, len(steps) // 2, len(steps) - 1):
            continue
        arms = []
        for arm in ("bc_rl", "rl"):
            values = [c[k][1] for c in bc_rl[arm]["curves"] if k < len(c)]
            arms.append(seeds_text(summary(values)) if values else "n/a")
        rows.append(f"| {int(step):,} | {arms[0]} | {arms[1]} |")
    return rows


def render_imitation(results: dict[str, Any], heading: str = "##") -> list[str]:
    """The imitation section as Markdown lines."""
    sub = heading + "#"
    lines = [f"{heading} Imitation and offline RL", "",
             f"From `imitation.json` (`{REGENERATE}`). Every learner here reads only the current observation, so every "
             "score is exact (normalized: 0 random, 1 the oracle); intervals are over seeds (IQM, 95% bootstrap).",
             "", *[f"- {s}" for s in headline(results)], "",
             f"{sub} Behaviour cloning of each policy (fidelity)", "",
             "| policy | kind | decides on | the policy | its clone | clone - policy | held-out move accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in results["fidelity"]:
        lines.append(f"| {r['policy']} | {r['kind']} | {r['decides_on']} | {policy_text(r)} | {seeds_text(r['bc'])} "
                     f"| {gap_text(r['bc']['iqm'] - r['policy_normalized'])} | {seeds_text(r['held_out_accuracy'])} |")
    belief = results["belief_vs_rl"]
    lines += ["", f"{sub} Imitating the best belief-based policy, against RL at the same sample count", "",
              "| learner | samples | score |", "|---|---|---|",
              f"| behaviour cloning of belief_lookahead (the policy: {fmt(belief['policy_normalized'])}) | "
              f"{belief['steps']:,} transitions | {seeds_text(belief['bc'])} |",
              f"| PPO from scratch | {belief['steps']:,} environment steps | {seeds_text(belief['rl'])} |"]
    bc_rl = results["bc_rl"]
    lines += ["", f"{sub} Behaviour cloning of {bc_rl['from']}, then PPO, against PPO from scratch", "",
              f"| steps | BC of {bc_rl['from']} + PPO | PPO from scratch |", "|---|---|---|", *_curve_rows(bc_rl)]
    off = results["offline"]
    data, best = off["data"], off["best_in_data"]
    lines += ["", f"{sub} Offline RL on the mixed dataset", "",
              f"The mixed dataset holds equal parts of {', '.join(off['mixed_from'])}.", "",
              "| | score |", "|---|---|",
              f"| the data (mean of its {data['episodes']:,} conversations, 95% interval) | {fmt(data['mean'])} "
              f"{interval(data['low'], data['high'])} |",
              f"| behaviour cloning of the mix | {seeds_text(off['bc'])} |",
              f"| discrete CQL (d3rlpy) | {seeds_text(off['cql'])} |",
              f"| the best policy in the data, {best['policy']} | {fmt(best['policy_normalized'])} "
              f"({'exact' if best['policy_source'] == 'exact' else 'sampled'}) |",
              f"| certified bracket of the best observation-only policy | {interval(*off['bracket'])} |"]
    return lines


def committed_imitation(context: str, folder: Traversable | Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """The committed study (``experiments/baselines/imitation.json``) if it was run on ``context``
    (``persona/ablated/turns``), else None and one line saying why it is not shown."""
    folder = baselines_folder() if folder is None else folder
    path = folder.joinpath(RESULTS_FILE)
    if not path.is_file():
        return None, f"Imitation: no committed study ({STORE_NAME}/{RESULTS_FILE}); `{REGENERATE}` writes one."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return None, f"Imitation: {STORE_NAME}/{RESULTS_FILE} cannot be read ({err}); rerun `{REGENERATE}`."
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return None, f"Imitation: {STORE_NAME}/{RESULTS_FILE} holds results of another kind; rerun `{REGENERATE}`."
    ran_on = context_name(data["setting"])
    if ran_on != context:
        return None, f"Imitation: the committed study ran on {ran_on}, not on this report's model ({context})."
    return data, ""


def section_imitation(results: Any) -> list[str]:
    """The report's imitation section (a report's sections list takes it), or the one line saying why there is none."""
    if results.imitation is None:
        return [results.imitation_note, ""] if results.imitation_note else []
    return [*render_imitation(results.imitation, heading="###"), ""]


__all__ = ["FAITHFUL_GAP", "REGENERATE", "RESULTS_FILE", "committed_imitation", "compare", "headline",
           "render_imitation", "section_imitation", "seeds_text"]
