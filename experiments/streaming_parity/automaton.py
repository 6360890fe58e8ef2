"""``parity_automaton``: states of the extracted, minimised automaton over training (rise, then collapse to 2)."""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.streaming_parity import figures
from experiments.streaming_parity.common import generalises, rnn_cfg, train_one_length
from experiments.streaming_parity.settings import AutomatonConfig
from theory import streaming_parity as th

__all__ = ["run_automaton", "simulate", "automata", "checks", "metrics"]


def simulate(cfg: AutomatonConfig, seed: int, ctx: RunContext) -> dict:
    """Train ``cfg.seeds`` RNNs at ``cfg.train_length``, recording every prefix state; test them on long sequences."""
    res, key_eval = train_one_length(cfg, seed, ctx)
    hid, out = np.asarray(res.records["hidden"][:, 0]), np.asarray(res.records["outputs"][:, 0])  # (S, C, N, P)
    loss = np.asarray(res.loss[:, 0])
    perfect, _ = generalises(
        key_eval, jax.tree.map(lambda x: x[:, 0], res.params), rnn_cfg(cfg), cfg.eval_length, cfg.eval_sequences
    )
    return {"hidden": hid, "outputs": out, "loss": loss, "steps": res.steps, "perfect": perfect}


def automata(cfg: AutomatonConfig, sim: dict) -> dict:
    """At every checkpoint: states of the raw and the minimised automaton, and whether it computes parity."""
    hid, out = sim["hidden"], sim["outputs"]
    C = hid.shape[1]
    n_states = np.zeros((cfg.seeds, C), int)
    raw_states = np.zeros((cfg.seeds, C), int)
    parity = np.zeros((cfg.seeds, C), bool)
    for s in range(cfg.seeds):
        for c in range(C):
            raw = th.extract_automaton(hid[s, c], out[s, c], fraction=cfg.merge_fraction)
            m = th.minimize(raw)
            raw_states[s, c], n_states[s, c], parity[s, c] = raw.n_states, m.n_states, th.computes_parity(m)
    return {"n_states": n_states, "raw_states": raw_states, "parity": parity}


def checks(cfg: AutomatonConfig, sim: dict, aut: dict) -> list[Check]:
    L = cfg.train_length
    gen = sim["perfect"] == 1.0
    n_states, parity = aut["n_states"], aut["parity"]
    peak = n_states.max(axis=1)
    final_two = (n_states[:, -1] == th.parity_automaton().n_states) & parity[:, -1]
    return [
        Check.at_least(
            "final_parity_automaton_when_generalising",
            float(np.mean(final_two[gen])) if gen.any() else 0.0,
            0.5,
            f"fraction of the {int(gen.sum())} generalising seeds whose final extracted automaton minimises to the "
            "2-state parity automaton (theory: the minimal machine for parity has 2 states; the greedy threshold "
            "extraction can miss clusters, so a majority is required, not all)",
        ),
        Check.at_least(
            "rise_before_collapse",
            float(np.mean(peak[final_two] > 2)) if final_two.any() else 0.0,
            1.0,
            "fraction of the seeds ending in the 2-state automaton whose automaton had more than 2 states earlier "
            "in training (the memorising tree rises before the mergers collapse it; exact)",
        ),
        Check.at_least(
            "generalisation_at_this_L",
            float(gen.mean()),
            0.5,
            f"fraction of seeds computing parity on length {cfg.eval_length} after training at L={L} "
            "(above the transition measured by parity_transition)",
        ),
    ]


def metrics(sim: dict, aut: dict) -> dict:
    n_states, parity = aut["n_states"], aut["parity"]
    return {
        "generalises": (sim["perfect"] == 1.0).tolist(),
        "final_states": n_states[:, -1].tolist(),
        "peak_states": n_states.max(axis=1).tolist(),
        "final_raw_states": aut["raw_states"][:, -1].tolist(),
        "final_is_parity": parity[:, -1].tolist(),
    }


@register(
    "parity_automaton",
    "number of states of the automaton extracted from the hidden states over training: "
    "the rise (memorising tree) and the collapse to the two-state parity automaton",
    AutomatonConfig,
    figures=figures.automaton,
)
def run_automaton(cfg: AutomatonConfig, seed: int, ctx: RunContext) -> Result:
    sim = simulate(cfg, seed, ctx)
    aut = automata(cfg, sim)
    arrays = {
        "checkpoints": sim["steps"],
        **aut,
        "loss": sim["loss"],
        "steps": sim["steps"],
        "perfect": sim["perfect"],
    }
    return Result(checks(cfg, sim, aut), arrays, metrics=metrics(sim, aut))
