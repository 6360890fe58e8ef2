r"""Streaming parity: automaton extraction and the effective theory of representational merger.

Reference: L. van Rossem & A. M. Saxe, *Algorithm Development in Neural Networks: Insights from the Streaming
Parity Task*, ICML 2025 (arXiv:2507.09897). Public code: ``loekvanrossem/rnn_structure``.

Sources (``docs/families/streaming_parity.md`` sets the paper's text, the authors' code and this module side by
side):

* automaton extraction: the authors' ``source/data_analysis/automata.py`` (greedy grouping of hidden states
  closer than ``merge_distance_frac × ‖std‖``, default fraction 0.1; transitions read off the last input
  bit; Hopcroft minimisation with the output partition as the start);
* the two-point effective theory: the authors' ``source/simulate.py`` (ODE in h = ‖Δh‖², y = ‖Δŷ‖²,
  w = y − Δy*·Δŷ with effective learning rates η_h, η_y, fitted to the network), from van Rossem & Saxe
  2024, *When Representations Align*.
* the extension to an RNN (counting the training continuations two prefixes share) is **derived here**
  from those two ingredients; it follows the mechanism the paper describes (prefixes that agree on every
  future output attract, more strongly the more training data follows them) but its constants are this
  module's, not the paper's. Every approximation is named below.

Automata
--------
:func:`extract_automaton` turns the hidden states of all prefixes up to a length into a (partial) Moore
machine; :func:`minimize` merges indistinguishable states (Moore partition refinement, which gives the same
partition as Hopcroft's algorithm); :func:`computes_parity` decides whether an automaton computes streaming
parity on **every** input, of any length.

Effective theory of merger
--------------------------
Two prefixes s₁, s₂ that agree on all future outputs (same parity) have representations h₁, h₂ and, for
every continuation c in the training set, outputs ŷ(s₁c), ŷ(s₂c) with equal targets. Write
h = ‖h₁ − h₂‖² and y_c = ‖ŷ(s₁c) − ŷ(s₂c)‖². Assumptions (A1–A3):

* (A1) *smooth, free representations* (the "arbitrary smooth map" assumption of van Rossem & Saxe 2024):
  gradient flow moves each representation along −η_h ∂L/∂h with an effective rate; the maps from a
  representation to the outputs after c are locally linear, ŷ(s_i c) ≈ D_c h_i + const;
* (A2) *aligned decoders*: D_c acts on Δh only through its component along Δh (rank one along Δh, the
  approximation that closes the two-point system); the decoders themselves learn at an effective rate
  η_y, which shrinks Δŷ_c without moving h;
* (A3) *symmetric continuations*: every one of the N shared continuations starts with the same y_c = y
  and has the same loss weight (true for the authors' data set, where each distinct sequence of length
  1…L appears once).

With a = η_h, b = η_y (both per unit loss weight) the two-point ODE with equal targets
(dy2 = 0, so w = y) becomes, summed over the N continuations,

.. math::  \dot h = -aNy, \qquad \dot y = -y\,(b\,h + aN\,y/h).

It has the invariant :math:`y/h - \beta h = \kappa` with :math:`\beta = b/(aN)`, hence the closed form
(:func:`merger_trajectory`)

.. math::  h(t) = \frac{\kappa h_0}{(\kappa+\beta h_0)e^{aN\kappa t} - \beta h_0},\quad
           y(t) = h(t)\,(\kappa + \beta h(t)),\quad \kappa = y_0/h_0 - \beta h_0,

and the **merger condition** (:func:`final_distance`, :func:`critical_count`):

.. math::  h_\infty = \max\!\left(0,\; h_0 - \frac{aN y_0}{b h_0}\right), \qquad
           \text{merge} \iff N \ge N_c = \frac{b h_0^2}{a y_0}.

The residual distance falls **linearly** in the number of shared continuations and vanishes at N_c.
For prefixes of lengths m₁, m₂ trained on all sequences of length ≤ L the shared continuations are those of
length 0…L − max(m₁, m₂) (:func:`continuation_count`): :math:`N = 2^{L-\max(m_1,m_2)+1}-1`. So with a fixed
N_c, pairs merge iff :math:`\max(m_1, m_2) \le m^*(L) = L + 1 - \log_2(N_c+1)`: the merger boundary moves
one-for-one with L (:func:`merger_boundary`).

**Generalisation transition.** If every pair of agreeing prefixes up to length 2 merges (ε ~ "0" ~ "00" ~ "11"
and "1" ~ "01" ~ "10"), the merged representations form a closed two-state automaton: the transition from
the odd state on 0 lands on the odd state, etc., so the network computes parity at every length. With the
one-for-one boundary this needs :math:`m^*(L)\ge 2`, i.e. (:func:`critical_train_length`)

.. math::  L_c = 1 + \lceil \log_2(N_c + 1) \rceil .

N_c is not known a priori for a real network (h₀, y₀ and the effective rates are emergent): the experiments
calibrate it on one quantity and test the others. The general, unequal-weight system
(:func:`merger_ode_rhs`, integrated by :func:`integrate_merger_ode`) drops (A3).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from theory.common import ParameterError, as_float, check_int, check_range

__all__ = [
    "Automaton",
    "prefix_index",
    "prefix_strings",
    "merge_distance",
    "extract_automaton",
    "minimize",
    "run_automaton",
    "computes_parity",
    "parity_automaton",
    "mod_counter_automaton",
    "agreeing_pairs",
    "continuation_count",
    "critical_count",
    "final_distance",
    "merger_trajectory",
    "merger_ode_rhs",
    "integrate_merger_ode",
    "merger_boundary",
    "critical_train_length",
]


# ----------------------------------------------------------------------------------------------
# automata
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Automaton:
    """A (possibly partial) Moore machine over the alphabet {0, 1}.

    ``transitions`` (n, 2) int: next state on bit 0 / 1, −1 where undefined; ``outputs`` (n,) int: the
    output emitted in each state (−1: none, for a start state that is never re-entered); ``initial``: the start
    state; ``conflicts``: number of transitions read off inconsistently during extraction (0 when deterministic).
    """

    transitions: np.ndarray
    outputs: np.ndarray
    initial: int = 0
    conflicts: int = 0

    def __post_init__(self):
        t = np.asarray(self.transitions)
        if t.ndim != 2 or t.shape[1] != 2:
            raise ParameterError(f"transitions must have shape (n_states, 2); got {t.shape}")
        if np.any(t < -1) or np.any(t >= len(t)):
            raise ParameterError("transitions must hold state indices in [0, n_states) or -1 (undefined)")
        if np.shape(self.outputs) != (len(t),):
            raise ParameterError(f"outputs must have shape ({len(t)},); got {np.shape(self.outputs)}")
        if not 0 <= self.initial < len(t):
            raise ParameterError(f"initial must be in [0, {len(t)}); got {self.initial}")

    @property
    def n_states(self) -> int:
        return len(self.outputs)

    @property
    def complete(self) -> bool:
        """Every transition is defined."""
        return bool(np.all(np.asarray(self.transitions) >= 0))


def prefix_index(bits) -> int:
    """Index of a prefix in the order used throughout: 2^m − 1 + int(bits, 2) (the empty prefix is 0)."""
    bits = _binary(bits, "bits")
    m = bits.size
    return int(2**m - 1 + (int("".join(map(str, bits)), 2) if m else 0))


def prefix_strings(max_length: int) -> list[str]:
    """Labels of all prefixes of length 0…max_length in index order ('' first)."""
    check_int(max_length, "max_length", minimum=0)
    out = [""]
    for m in range(1, max_length + 1):
        out += [format(i, f"0{m}b") for i in range(2**m)]
    return out


def _binary(bits, name):
    arr = np.asarray(bits)
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ParameterError(
            f"{name} must contain only 0 and 1; got values such as {arr[(arr != 0) & (arr != 1)].ravel()[:3].tolist()}"
        )
    return arr.astype(int).ravel()


def _n_prefixes_to_length(n: int) -> int:
    max_length = int(round(np.log2(n + 1))) - 1
    if 2 ** (max_length + 1) - 1 != n or max_length < 1:
        raise ParameterError(f"hidden must hold 2^(L+1) − 1 prefix states (L ≥ 1); got {n} rows")
    return max_length


def merge_distance(hidden, fraction: float = 0.1) -> float:
    """The authors' merge threshold: ``fraction`` × ‖per-dimension standard deviation over prefixes‖."""
    check_range(fraction, "fraction", low=0.0, low_inclusive=False)
    h = np.asarray(hidden, float)
    return float(fraction * np.linalg.norm(h.std(axis=0)))


def extract_automaton(hidden, outputs, *, fraction: float = 0.1, threshold: float | None = None) -> Automaton:
    """Automaton read off the hidden states of every prefix of length 0…L (the authors' procedure).

    Args:
        hidden: (2^(L+1) − 1, P) hidden states in :func:`prefix_index` order (index 0: the initial state).
        outputs: (same, K) network outputs; a state's output is the majority argmax over its non-empty prefixes
            (a group holding only the empty prefix gets −1: the task emits nothing before the first bit).
        fraction: merge threshold as a fraction of ‖std‖ (:func:`merge_distance`), the authors' default 0.1.
        threshold: an absolute merge distance instead of ``fraction``.

    Prefixes are visited in index order; each joins the first existing group whose first member lies closer
    than the threshold, else opens a new group (the authors' greedy grouping). The transition of group G on
    bit x goes to the group of s·x for s in G (majority when they disagree; ``conflicts`` counts
    disagreements). Prefixes of the maximal length have no outgoing transitions (undefined, −1) unless their
    group also holds shorter prefixes.
    """
    h = np.asarray(hidden, float)
    out = np.asarray(outputs, float)
    if h.ndim != 2:
        raise ParameterError(f"hidden must have shape (n_prefixes, P); got {h.shape}")
    if out.ndim != 2 or out.shape[0] != h.shape[0]:
        raise ParameterError(f"outputs must have shape ({h.shape[0]}, K); got {out.shape}")
    max_length = _n_prefixes_to_length(h.shape[0])
    thr = merge_distance(h, fraction) if threshold is None else float(threshold)
    check_range(thr, "threshold", low=0.0)
    reps: list[np.ndarray] = []
    group = np.empty(h.shape[0], int)
    for i, v in enumerate(h):
        if reps:
            d = np.linalg.norm(np.asarray(reps) - v, axis=1)
            j = int(np.argmax(d < thr)) if np.any(d < thr) else -1
        else:
            j = -1
        if j < 0:
            reps.append(v)
            j = len(reps) - 1
        group[i] = j
    n = len(reps)
    votes = np.zeros((n, 2, n + 1), int)  # (group, bit, target group)
    n_internal = 2**max_length - 1  # prefixes of length < L have children
    for i in range(n_internal):
        for bit in (0, 1):
            child = 2 * i + 1 + bit  # index of s·bit (heap order)
            votes[group[i], bit, group[child]] += 1
    has = votes.sum(axis=2) > 0
    transitions = np.where(has, votes.argmax(axis=2), -1)
    conflicts = int(np.sum(votes.sum(axis=2) - votes.max(axis=2)))
    labels = out.argmax(axis=1)
    state_out = np.zeros(n, int)
    for g in range(n):
        members = np.flatnonzero(group == g)
        nonempty = members[members > 0]
        state_out[g] = int(np.bincount(labels[nonempty], minlength=out.shape[1]).argmax()) if nonempty.size else -1
    return Automaton(transitions, state_out, int(group[0]), conflicts)


def minimize(aut: Automaton) -> Automaton:
    """Merge indistinguishable states (Moore refinement; an undefined transition counts as its own symbol).

    Only states reachable from the initial state are kept. The result is the minimal machine with the same
    input–output behaviour on every input where the original is defined.
    """
    t = np.asarray(aut.transitions)
    reach = np.zeros(aut.n_states, bool)
    stack = [aut.initial]
    while stack:
        s = stack.pop()
        if reach[s]:
            continue
        reach[s] = True
        stack += [int(x) for x in t[s] if x >= 0 and not reach[x]]
    states = [int(q) for q in np.flatnonzero(reach)]
    silent = [q for q in states if aut.outputs[q] < 0]  # start states without an output (never re-entered)
    if any(np.any(t[states] == q) for q in silent):
        raise ParameterError("a state with output -1 must not be the target of a transition")
    block = {q: int(aut.outputs[q]) for q in states if aut.outputs[q] >= 0}

    def succ(q, bit):
        return block.get(int(t[q, bit]), -1) if t[q, bit] >= 0 else -1

    while True:
        ids: dict = {}
        new = {q: ids.setdefault((block[q], succ(q, 0), succ(q, 1)), len(ids)) for q in sorted(block)}
        stable = len(ids) == len(set(block.values()))
        block = new
        if stable:
            break
    # a silent start state joins a block with the same successors, else stays on its own
    for q in silent:
        key = (succ(q, 0), succ(q, 1))
        match = [b for r, b in block.items() if (succ(r, 0), succ(r, 1)) == key]
        block[q] = match[0] if match else max(block.values(), default=-1) + 1
    n = len(set(block.values()))
    trans = -np.ones((n, 2), int)
    outs = np.zeros(n, int)
    outs[:] = -1
    for q, b in block.items():
        outs[b] = max(outs[b], aut.outputs[q])
        for bit in (0, 1):
            if t[q, bit] >= 0:
                trans[b, bit] = block[int(t[q, bit])]
    return Automaton(trans, outs, block[aut.initial], aut.conflicts)


def run_automaton(aut: Automaton, bits) -> np.ndarray:
    """Outputs after every bit; −1 from the first undefined transition on."""
    arr = _binary(bits, "bits")
    out = -np.ones(arr.size, int)
    s = aut.initial
    t = np.asarray(aut.transitions)
    for i, b in enumerate(arr):
        s = int(t[s, b])
        if s < 0:
            break
        out[i] = aut.outputs[s]
    return out


def _equivalent_on_all_inputs(aut: Automaton, ref: Automaton) -> bool:
    """Product-automaton search: every reachable (state, ref state) pair after ≥ 1 bit agrees in output and
    every transition is defined."""
    t, rt = np.asarray(aut.transitions), np.asarray(ref.transitions)
    seen = set()
    stack = [(aut.initial, ref.initial, True)]
    while stack:
        q, r, start = stack.pop()
        if (q, r, start) in seen:
            continue
        seen.add((q, r, start))
        if not start and aut.outputs[q] != ref.outputs[r]:
            return False
        for bit in (0, 1):
            if t[q, bit] < 0:
                return False
            stack.append((int(t[q, bit]), int(rt[r, bit]), False))
    return True


def parity_automaton() -> Automaton:
    """The minimal streaming-parity machine: state 0 (even, output 0) and 1 (odd, output 1)."""
    return Automaton(np.array([[0, 1], [1, 0]]), np.array([0, 1]), 0)


def mod_counter_automaton(modulus: int, accept: int = 0) -> Automaton:
    """Counts ones modulo ``modulus``; output 1 iff the count ≡ ``accept`` (mod ``modulus``)."""
    check_int(modulus, "modulus", minimum=2)
    k = int(modulus)
    trans = np.stack([np.arange(k), (np.arange(k) + 1) % k], axis=1)
    return Automaton(trans, (np.arange(k) == accept % k).astype(int), 0)


def computes_parity(aut: Automaton) -> bool:
    """True iff the automaton emits the parity of the bits so far after every bit of every input."""
    return _equivalent_on_all_inputs(aut, parity_automaton())


# ----------------------------------------------------------------------------------------------
# effective theory of merger
# ----------------------------------------------------------------------------------------------
def agreeing_pairs(max_length: int, *, min_length: int = 1) -> np.ndarray:
    """All pairs (i, j), i < j, of prefixes of length min_length…max_length with equal parity (for streaming
    parity, prefixes with equal parity agree on every future output; those with unequal parity on none).
    Returns (n_pairs, 2) indices in :func:`prefix_index` order."""
    check_int(max_length, "max_length", minimum=1)
    check_int(min_length, "min_length", minimum=0, maximum=max_length)
    labels = prefix_strings(max_length)
    idx = np.array([i for i, s in enumerate(labels) if len(s) >= min_length])
    par = np.array([labels[i].count("1") % 2 for i in idx])
    i, j = np.triu_indices(idx.size, k=1)
    keep = par[i] == par[j]
    return np.stack([idx[i[keep]], idx[j[keep]]], axis=1)


def continuation_count(m1, m2, train_length):
    """N = 2^(L − max(m₁, m₂) + 1) − 1: the continuations (of length 0…L − max) that both prefixes keep inside
    the training set (all sequences of length 1…L). 0 where max(m₁, m₂) > L. Vectorised."""
    m = np.maximum(np.asarray(m1), np.asarray(m2))
    L = np.asarray(train_length)
    check_int(m, "prefix length", minimum=0)
    check_int(L, "train_length", minimum=1)
    return np.where(m <= L, 2.0 ** (L - m + 1) - 1, 0.0)


def critical_count(h0, y0, a, b):
    """N_c = b h₀² / (a y₀): the number of shared continuations at which the pair merges."""
    h0, y0 = as_float(h0, "h0"), as_float(y0, "y0")
    a, b = as_float(a, "a"), as_float(b, "b")
    for v, n in ((h0, "h0"), (y0, "y0"), (a, "a"), (b, "b")):
        check_range(v, n, low=0.0, low_inclusive=False)
    return b * h0**2 / (a * y0)


def final_distance(h0, y0, a, b, n):
    """h∞ = max(0, h₀ − a N y₀ / (b h₀)): squared distance left when the output differences have decayed."""
    h0, y0 = as_float(h0, "h0"), as_float(y0, "y0")
    a, b, n = as_float(a, "a"), as_float(b, "b"), as_float(n, "n")
    check_range(h0, "h0", low=0.0, low_inclusive=False)
    check_range(y0, "y0", low=0.0)
    check_range(a, "a", low=0.0)
    check_range(b, "b", low=0.0, low_inclusive=False)
    check_range(n, "n", low=0.0)
    return jnp.maximum(0.0, h0 - a * n * y0 / (b * h0))


def merger_trajectory(t, h0, y0, a, b, n):
    """Closed-form (h(t), y(t)) of the symmetric reduced system ḣ = −aNy, ẏ = −y(bh + aNy/h).

    Vectorised over ``t`` and (broadcastable) parameters. See the module docstring for the derivation.
    """
    t = as_float(t, "t")
    check_range(t, "t", low=0.0)
    h0, y0 = as_float(h0, "h0"), as_float(y0, "y0")
    a, b, n = as_float(a, "a"), as_float(b, "b"), as_float(n, "n")
    check_range(h0, "h0", low=0.0, low_inclusive=False)
    check_range(y0, "y0", low=0.0)
    check_range(a, "a", low=0.0, low_inclusive=False)
    check_range(b, "b", low=0.0, low_inclusive=False)
    check_range(n, "n", low=0.0, low_inclusive=False)
    r = a * n
    beta = b / r
    kappa = y0 / h0 - beta * h0
    x = r * kappa * t
    # h = κ h0 / ((κ + β h0) e^{x} − β h0); written with expm1 so that κ → 0 is exact: h0 / (1 + β h0 r t …)
    small = jnp.abs(kappa) < 1e-300
    safe_k = jnp.where(small, 1.0, kappa)
    denom = jnp.where(small, 1.0 + beta * h0 * r * t, jnp.exp(x) + beta * h0 * jnp.expm1(x) / safe_k)
    h = h0 / denom
    y = h * (kappa + beta * h)
    return h, y


def merger_ode_rhs(h, y, a, b, weights):
    """Right-hand side of the general reduced system (drops A3): continuation c has loss weight ω_c and its own
    output difference y_c; ḣ = −a Σ ω_c y_c, ẏ_c = −y_c (b ω_c h + a Σ_c' ω_c' y_c' / h)."""
    s = jnp.sum(weights * y, axis=-1)
    dh = -a * s
    dy = -y * (b * weights * h[..., None] + (a * s / h)[..., None])
    return dh, dy


def integrate_merger_ode(h0, y0, a, b, weights, t_max: float, n_steps: int = 4000):
    """Integrate :func:`merger_ode_rhs` with classical RK4 in ``lax.scan`` (log-variables, so h and y stay
    positive); returns (times (n_steps+1,), h (n_steps+1,), y (n_steps+1, K))."""
    check_range(t_max, "t_max", low=0.0, low_inclusive=False)
    check_int(n_steps, "n_steps", minimum=1)
    h0 = as_float(h0, "h0")
    y0 = as_float(y0, "y0")
    w = as_float(weights, "weights")
    check_range(h0, "h0", low=0.0, low_inclusive=False)
    check_range(y0, "y0", low=0.0, low_inclusive=False)
    check_range(w, "weights", low=0.0)
    y0 = jnp.broadcast_to(y0, w.shape)
    dt = t_max / n_steps

    def f(z):
        lh, ly = z
        h, y = jnp.exp(lh), jnp.exp(ly)
        dh, dy = merger_ode_rhs(h, y, a, b, w)
        return dh / h, dy / y

    def step(z, _):
        k1 = f(z)
        k2 = f(jax.tree.map(lambda u, k: u + 0.5 * dt * k, z, k1))
        k3 = f(jax.tree.map(lambda u, k: u + 0.5 * dt * k, z, k2))
        k4 = f(jax.tree.map(lambda u, k: u + dt * k, z, k3))
        z = jax.tree.map(lambda u, p, q, r, s: u + dt / 6 * (p + 2 * q + 2 * r + s), z, k1, k2, k3, k4)
        return z, z

    z0 = (jnp.log(h0), jnp.log(y0))
    _, (lh, ly) = jax.lax.scan(step, z0, None, length=n_steps)
    times = dt * jnp.arange(n_steps + 1)
    h = jnp.concatenate([h0[None], jnp.exp(lh)])
    y = jnp.concatenate([y0[None], jnp.exp(ly)])
    return times, h, y


def merger_boundary(train_length, n_critical):
    """m*(L) = L + 1 − log₂(N_c + 1): pairs with max(m₁, m₂) ≤ m* merge (continuous; floor it for lengths)."""
    L = as_float(train_length, "train_length")
    nc = as_float(n_critical, "n_critical")
    check_range(L, "train_length", low=1.0)
    check_range(nc, "n_critical", low=0.0)
    return L + 1.0 - jnp.log2(nc + 1.0)


def critical_train_length(n_critical):
    """L_c = 1 + ⌈log₂(N_c + 1)⌉: the shortest training length whose length-≤2 agreeing prefixes all merge."""
    nc = as_float(n_critical, "n_critical")
    check_range(nc, "n_critical", low=0.0)
    return 1.0 + jnp.ceil(jnp.log2(nc + 1.0))


def reduced_particle_loss(delta, gains, weights):
    """Loss of an exact one-dimensional realisation of the reduced system (for finite-difference checks).

    Two representations ±δ/2 along one direction and decoders ŷ_c = g_c·(±δ/2) with equal targets 0 (zero mean
    error; A1–A2 hold exactly): ℓ = Σ_c ω_c g_c² δ² / 4. Gradient flow with rate a on δ and b on the g_c gives,
    for h = δ² and y_c = g_c² δ², exactly ḣ = −a Σ ω_c y_c and ẏ_c = −y_c (b ω_c h + a Σ ω_c' y_c' / h)
    (:func:`merger_ode_rhs`).
    """
    return jnp.sum(weights * gains**2) * delta**2 / 4.0
