"""``parity_transition``: the fraction of RNNs computing parity on long sequences against the training length L."""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.streaming_parity import figures
from experiments.streaming_parity.common import generalises, rnn_cfg
from experiments.streaming_parity.settings import TransitionConfig
from experiments.sweep import train_sweep
from theory import streaming_parity as th
from toymodels import streaming_parity as tm

__all__ = ["run_transition", "simulate", "automata", "summarise", "checks", "metrics"]


def simulate(cfg: TransitionConfig, seed: int, ctx: RunContext) -> dict:
    """Train ``cfg.seeds`` RNNs at every L (seeds × lengths vmapped) and test them on long random sequences."""
    rcfg = rnn_cfg(cfg)
    Ls = np.asarray(cfg.train_lengths, int)
    key_train, key_eval = jax.random.split(jax.random.key(seed))
    ctx.log(f"  {cfg.seeds} seeds x {Ls.size} lengths, {cfg.steps} full-batch steps, P={cfg.hidden}")
    n_records = cfg.steps // cfg.record_every
    job = tm.job(Ls, rcfg, seeds=cfg.seeds, steps=cfg.steps, n_records=n_records)
    res = train_sweep(ctx, "train", job, key_train, records_per_chunk=max(1, n_records // 10))
    loss = np.asarray(res.loss)  # (S, G, R)
    perfect, per_step = generalises(key_eval, res.params, rcfg, cfg.eval_length, cfg.eval_sequences)
    return {
        "train_lengths": Ls,
        "loss": loss,
        "steps": res.steps,
        "perfect": perfect,
        "per_step": per_step,
        "params": res.params,
    }


def _extract(hidden, outputs, fraction):
    return th.minimize(th.extract_automaton(hidden, outputs, fraction=fraction))


def automata(cfg: TransitionConfig, sim: dict) -> dict:
    """Automata of the trained networks (prefixes up to L): states of the minimised machine, and whether it is parity."""
    rcfg = rnn_cfg(cfg)
    Ls, params = sim["train_lengths"], sim["params"]
    shape = sim["perfect"].shape  # (S, G)
    n_states = np.zeros(shape, int)
    is_parity = np.zeros(shape, bool)
    for g, L in enumerate(Ls):
        hid, out = jax.vmap(lambda p, L=L: tm.prefix_hidden_states(p, rcfg, int(L)))(
            jax.tree.map(lambda x, g=g: x[:, g], params)
        )
        for s in range(cfg.seeds):
            aut = _extract(np.asarray(hid[s]), np.asarray(out[s]), cfg.merge_fraction)
            n_states[s, g], is_parity[s, g] = aut.n_states, th.computes_parity(aut)
    return {"n_states": n_states, "is_parity": is_parity}


def _transition_point(Ls, frac) -> float:
    """Smallest L (linearly interpolated) at which the generalising fraction reaches 0.5; NaN if never."""
    f = np.nan_to_num(np.asarray(frac, float), nan=0.0)
    above = np.flatnonzero(f >= 0.5)
    if above.size == 0:
        return float("nan")
    k = int(above[0])
    if k == 0:
        return float(Ls[0])
    f0, f1 = f[k - 1], f[k]
    return float(Ls[k - 1] + (0.5 - f0) / (f1 - f0) * (Ls[k] - Ls[k - 1]))


def summarise(cfg: TransitionConfig, sim: dict) -> dict:
    """Per L: the fraction of fitted networks that generalise, the fraction that fit, and the transition point."""
    ok = sim["perfect"] == 1.0  # (S, G): right at every step of every test sequence
    fitted = sim["loss"][..., -1] < cfg.converged_loss
    n_fit = fitted.sum(axis=0)
    frac = np.where(n_fit > 0, (ok & fitted).sum(axis=0) / np.maximum(n_fit, 1), np.nan)
    # transition point (simulation); the effective theory needs N_c, which is not measured independently here
    # (see parity_merger for why the pairwise theory does not describe these networks quantitatively)
    L50 = _transition_point(sim["train_lengths"], frac)
    return {
        "fraction_generalising": frac,
        "fraction_fitting": np.mean(fitted, axis=0),
        "transition_L50": np.asarray(L50),
    }


def checks(cfg: TransitionConfig, sim: dict, aut: dict, summary: dict) -> list[Check]:
    Ls, frac = sim["train_lengths"], summary["fraction_generalising"]
    ok, is_parity = sim["perfect"] == 1.0, aut["is_parity"]
    out = []
    small = Ls[0]
    out.append(
        Check.at_most(
            "no_generalisation_at_smallest_L",
            float(frac[0]),
            0.0,
            f"fraction of networks trained at L={small} (that fit their training set) computing parity at every step "
            f"of {cfg.eval_sequences} random sequences of length {cfg.eval_length}; the transition predicts none "
            "(below the critical length no agreeing prefixes merge, so the network only memorises)",
        )
    )
    best = int(np.nanargmax(frac))
    out.append(
        Check.at_least(
            "generalisation_above_transition",
            float(np.nanmax(frac)),
            0.5,
            f"largest fraction of fitted networks that generalise (at L={Ls[best]}); the transition predicts a "
            "majority above the critical length (0.5 is the definition of the transition point, not a fitted margin)",
        )
    )
    # every automaton that computes parity belongs to a network that generalises (extraction is sound)
    sound = np.mean(ok[is_parity]) if is_parity.any() else 1.0
    out.append(
        Check.at_least(
            "parity_automaton_implies_generalisation",
            float(sound),
            1.0,
            "fraction of networks whose extracted, minimised automaton computes parity that also get every step of "
            "the long test sequences right (an automaton that closes on the prefixes up to L and computes parity "
            "runs forever; exact, tolerance 1)",
        )
    )
    return out


def metrics(cfg: TransitionConfig, sim: dict, aut: dict, summary: dict) -> dict:
    ok = sim["perfect"] == 1.0
    fitted = sim["loss"][..., -1] < cfg.converged_loss
    n_states, is_parity = aut["n_states"], aut["is_parity"]
    return {
        "train_lengths": sim["train_lengths"].tolist(),
        "fraction_generalising": summary["fraction_generalising"].tolist(),
        "fraction_fitting": summary["fraction_fitting"].tolist(),
        "transition_L50": float(summary["transition_L50"]),
        "per_step_accuracy_mean": sim["per_step"].mean(axis=0).tolist(),
        "n_states_median": np.median(n_states, axis=0).tolist(),
        "fraction_parity_automaton": is_parity.mean(axis=0).tolist(),
        "generalising_but_not_parity_automaton": int(np.sum(ok & fitted & ~is_parity)),
    }


@register(
    "parity_transition",
    "fraction of RNNs that compute parity on sequences of length >= 1000 vs the "
    "training length L: the phase transition to infinite generalisation, and the extracted automata",
    TransitionConfig,
    figures=figures.transition,
)
def run_transition(cfg: TransitionConfig, seed: int, ctx: RunContext) -> Result:
    sim = simulate(cfg, seed, ctx)
    aut = automata(cfg, sim)
    summary = summarise(cfg, sim)
    arrays = {**{k: v for k, v in sim.items() if k != "params"}, **aut, **summary}
    return Result(checks(cfg, sim, aut, summary), arrays, metrics=metrics(cfg, sim, aut, summary))
