r"""Streaming parity: automata read off a network, and the effective theory of representational merger.

Reference: L. van Rossem & A. M. Saxe, *Algorithm Development in Neural Networks: Insights from the Streaming
Parity Task*, ICML 2025 (PMLR 267:60764–60791; arXiv:2507.09897). Equation, section and appendix numbers below are
the paper's; ``docs/families/streaming_parity.md`` sets the paper, the authors' code and this module side by side.

Automata (paper §2.2, App. A)
-----------------------------
:func:`extract_automaton` groups the hidden states of all sequences up to a length into states (Eq. 12: vectors
closer than ε are one state; the authors' greedy grouping), reads the transitions off the recurrent map and the
outputs off the readout; :func:`minimize` merges indistinguishable states (Moore partition refinement, the same
partition as Hopcroft's Algorithm 1); :func:`computes_parity` decides whether an automaton computes streaming parity
on **every** input. :func:`merge_distance` is ε: a fraction of the norm of the per-unit standard deviation of the
representations (App. C.1: 0.01, the standard deviation pooled over all epochs of the run; the Fig. 9 notebook:
0.1 of the final network's).

Interaction model at the moving midpoint (paper §3.2–3.3, App. B.1–B.3)
-----------------------------------------------------------------------
Two sequences s₁, s₂ with representations h₁, h₂ are treated as free vectors, and the outputs of the N
continuations c_i that both s₁c_i and s₂c_i have in the data as free smooth maps, linearised at the moving mean
(Eq. 2/13): y(s_α c_i) = ȳ_i + ½D_i(h_α − h_¬α). Gradient flow on the mean squared loss (Eq. 3/14) with effective
rates 1/τ_h (representations; 1/τ_h = 1/τ_h1 + 1/τ_h2) and 1/τ_y (decoders) closes, under the Ansatz that dh = h₂ − h₁
only changes length (Eq. 17), on three scalars (Eq. 4 = Eq. 20, :func:`midpoint_rhs`):

.. math::
   \tfrac{d}{dt}\|dh\|^2 &= -\tfrac{1}{2\tau_h}\langle w\rangle,\\
   \tfrac{d}{dt}\langle\|dy\|^2\rangle &= -\tfrac12\big(\tfrac{\|dh\|^2}{N\tau_y}
        + \tfrac{\langle\|dy\|^2\rangle}{\tau_h\|dh\|^2}\big)\langle w\rangle,\\
   \tfrac{d}{dt}\langle w\rangle &= -\tfrac{1}{4N\tau_y}\big(3\langle w\rangle - \langle\|dy\|^2\rangle
        + \langle\|y^*_2-y^*_1\|^2\rangle\big)\|dh\|^2
        - \tfrac{1}{4\tau_h}\tfrac{\langle w\rangle}{\|dh\|^2}\big(\langle\|dy\|^2\rangle + \langle w\rangle\big),

with dy_i = D_i dh and w_i = ‖dy_i‖² − dy_iᵀ(y*₂,i − y*₁,i). Its only valid stable fixed point gives the final
distance (Eq. 5, :func:`final_distance`) ‖dh(∞)‖² = ½A_high + √(¼A_high² + A_low²) with (Eq. 6, :func:`a_high`,
:func:`a_low`) A_high = ‖dh(0)‖² − (Nτ_y/τ_h)⟨‖dy_i(0)‖²⟩/‖dh(0)‖² and A_low = √(Nτ_y/τ_h)·√⟨‖y*₂ − y*₁‖²⟩; a pair
merges iff A_low = 0 and A_high < 0 (Eq. 7, :func:`merges`). At zero distance the reduced system has one positive
and one negative eigenvalue whenever A_low > 0 (Eq. 32, :func:`saddle_eigenvalues`; the printed values are twice
the rates of Eq. 23, see there): disagreeing pairs are repelled. For agreeing pairs (App. B.3) the invariant of Eq. 22
(:func:`dy2_from_dh2`) reduces Eq. 20 to the Bernoulli equation Eq. 34, solved by Eq. 35
(:func:`agreeing_trajectory`).

**Unequal weights and decoder rates (derived here).** With per-continuation decoder rates 1/τ_{y,i} and any
per-point loss weights (the per-length minibatches of the paper's training give sequences of different lengths
different weights), the same steps give, for an agreeing pair with symmetric weights, u_i = ‖dy_i‖²/‖dh‖² decaying
as u_i(0)·exp(−c_i ∫‖dh‖² dt/τ_{y,i}) and ‖dh‖² → ‖dh(0)‖² − Σ_i (τ_{y,i}/τ_h) u_i(0): the weights cancel and
A_high = ‖dh(0)‖² − Σ_i (τ_{y,i}/τ_h)‖dy_i(0)‖²/‖dh(0)‖² (:func:`a_high_general`), which is Eq. 6 when all τ_{y,i}
are equal. (Unequal weights of the two points of one continuation reduce to their harmonic mean once ȳ_i has
relaxed; the paper's decoupled ȳ_i dynamics, Eq. 16, are exact only for equal weights.)

**Scaling (Eqs. 8–9).** With initial weights at a scale where the recurrent map shrinks squared distances by G < 1
per step, ‖dh(0)‖² ∝ G^m, m = min(m₁, m₂), and ⟨‖dy_i(0)‖²/‖dh(0)‖²⟩ ∝ G^n, n the shortest continuation; a pair
merges iff its targets agree on every continuation and C < N·G^(n−m) (:func:`scaling_merges`), C an architecture
constant. :func:`fit_initial_scaling` measures c_h and G from the representations at initialisation
(log‖dh(0)‖² = log c_h + m log G), so that C = c_h τ_h/(c_y τ_y) follows from quantities measured before training.

Fixed expansion point (paper §5.2–5.3, App. B.4)
-----------------------------------------------
Expanding at the t = 0 mean instead, y(s_α c_i) = b_i + D_i h_α (Eq. 10/36), with representations moving along one
direction v (h_α scalars, Eq. 39), gradient flow on Eq. 37 with rates 1/τ_h1, 1/τ_h2, 1/τ_y (D) and 1/τ_b (b)
closes on nine scalars (Eq. 42, :func:`fixed_point_rhs`; loss Eq. 43, :func:`fixed_point_loss`): h₁, h₂, ⟨bᵀDv⟩,
⟨bᵀy*₁⟩, ⟨bᵀy*₂⟩, ⟨‖b‖²⟩, ⟨‖Dv‖²⟩, ⟨y*₁ᵀDv⟩, ⟨y*₂ᵀDv⟩. Agreeing pairs with unequal rates 1/τ_h1 ≠ 1/τ_h2 first move
apart and then merge; with equal rates the distance only shrinks (Eqs. 48–49: the printed text says "can only
increase", the equations carry the minus sign; this module follows the equations); disagreeing pairs only move
apart (Fig. 10). The representation rate grows with the sequence length, 1/τ_h ∝ length (App. D.3, Eq. 51): the
authors' Fig. 10 uses 1/τ_hα = lr·length_α, 1/τ_y = lr, 1/τ_b = lr/4.

Closing the automaton under predicted merges (paper §4.2–4.4)
------------------------------------------------------------
:func:`merge_closure` closes a set of merging pairs of prefixes under equivalence and right extension (merged
representations go to the same place under the recurrent map, so s₁ ~ s₂ implies s₁x ~ s₂x), and
:func:`quotient_automaton` builds the automaton of the closed classes on the prefix tree; it is finite (every
transition defined) only if enough pairs merge, and then :func:`computes_parity` says whether it generalises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from theory.common import ParameterError, as_float, check_int, check_range

__all__ = [
    "Automaton",
    "prefix_index",
    "prefix_strings",
    "prefix_lengths",
    "merge_distance",
    "extract_automaton",
    "minimize",
    "run_automaton",
    "computes_parity",
    "parity_automaton",
    "mod_counter_automaton",
    "agreeing_pairs",
    "continuation_count",
    "midpoint_rhs",
    "midpoint_loss",
    "a_high",
    "a_high_general",
    "a_low",
    "final_distance",
    "merges",
    "critical_count",
    "saddle_eigenvalues",
    "dy2_from_dh2",
    "agreeing_trajectory",
    "fixed_point_rhs",
    "fixed_point_loss",
    "fixed_point_state",
    "fixed_point_random_starts",
    "fixed_point_vector_loss",
    "FIXED_POINT_VARIABLES",
    "rk4",
    "fit_initial_scaling",
    "scaling_merges",
    "merge_closure",
    "quotient_automaton",
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


def prefix_lengths(max_length: int) -> np.ndarray:
    """Length of every prefix of length 0…max_length in :func:`prefix_index` order."""
    check_int(max_length, "max_length", minimum=0)
    return np.concatenate([np.full(2**m, m) for m in range(max_length + 1)])


def merge_distance(hidden, fraction: float = 0.01) -> float:
    """The merge threshold ε (Eq. 12): ``fraction`` × ‖per-unit standard deviation‖ of the representations.

    ``hidden`` (…, n, P): every leading axis is pooled, so passing the states of every checkpoint gives the paper's
    threshold (App. C.1: fraction 0.01, the standard deviation over all epochs; the authors' ``std`` is pandas'
    sample standard deviation, ddof = 1); one checkpoint and fraction 0.1 give the Fig. 9 notebook's.
    """
    check_range(fraction, "fraction", low=0.0, low_inclusive=False)
    h = np.asarray(hidden, float)
    if h.ndim < 2 or h.shape[-2] < 2:
        raise ParameterError(f"hidden must have shape (..., n >= 2, P); got {h.shape}")
    return float(fraction * np.linalg.norm(h.reshape(-1, h.shape[-1]).std(axis=0, ddof=1)))


def extract_automaton(
    hidden, outputs, *, fraction: float = 0.01, threshold: float | None = None, order: str = "label"
) -> Automaton:
    """Automaton read off the hidden states of every prefix of length 0…L (the authors' procedure).

    Args:
        hidden: (2^(L+1) − 1, P) hidden states in :func:`prefix_index` order (index 0: the initial state).
        outputs: (same, K) network outputs; a state's output is the majority argmax over its non-empty prefixes
            (a group holding only the empty prefix gets −1: the task emits nothing before the first bit).
        fraction: merge threshold as a fraction of ‖std‖ of these states (:func:`merge_distance`).
        threshold: an absolute merge distance instead of ``fraction`` (e.g. the paper's, pooled over epochs).
        order: the order prefixes are grouped in: ``"label"`` (the authors': their labels sorted as strings,
            '0' < '00' < … < '1' < …, the empty prefix last) or ``"index"`` (:func:`prefix_index` order).

    Each prefix in turn joins the first existing group whose first member lies closer than the threshold, else
    opens a new group (the authors' greedy grouping, ``group_activations``). The transition of group G on
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
    if order not in ("label", "index"):
        raise ParameterError(f"order must be 'label' or 'index'; got {order!r}")
    visit = range(h.shape[0])
    if order == "label":
        labels = prefix_strings(max_length)
        visit = sorted(range(1, h.shape[0]), key=lambda i: labels[i]) + [0]
    # squared distances from a Gram matrix (one matmul), then the greedy pass only compares with group leaders
    sq = np.sum(h * h, axis=1)
    close = (sq[:, None] + sq[None, :] - 2.0 * h @ h.T) < thr * thr
    leaders: list[int] = []
    group = np.empty(h.shape[0], int)
    for i in visit:
        hit = np.flatnonzero(close[i, leaders]) if leaders else ()
        if len(hit):
            group[i] = int(hit[0])
        else:
            leaders.append(i)
            group[i] = len(leaders) - 1
    n = len(leaders)
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
    """N = 2^(L − max(m₁, m₂) + 1) − 1: the continuations c (of length 0…L − max) with s₁c and s₂c both in a training
    set of every sequence of length 1…L (0 where max(m₁, m₂) > L). Vectorised. The empty continuation counts: the
    sequences s₁, s₂ are data points themselves (for the empty prefix use 2^(L−m+1) − 2, since it has no output)."""
    m = np.maximum(np.asarray(m1), np.asarray(m2))
    L = np.asarray(train_length)
    check_int(m, "prefix length", minimum=0)
    check_int(L, "train_length", minimum=1)
    return np.where(m <= L, 2.0 ** (L - m + 1) - 1, 0.0)


# ----------------------------------------------------------------------------------------------
# interaction model at the moving midpoint (Eqs. 2–7, 20–35)
# ----------------------------------------------------------------------------------------------
def _positive(x, name):
    x = as_float(x, name)
    check_range(x, name, low=0.0, low_inclusive=False)
    return x


def _nonneg(x, name):
    x = as_float(x, name)
    check_range(x, name, low=0.0)
    return x


def midpoint_rhs(dh2, dy2, w, *, tau_h, tau_y, n, target_gap=0.0):
    """Right-hand side of Eq. 20 (= Eq. 4): time derivatives of (‖dh‖², ⟨‖dy_i‖²⟩, ⟨w_i⟩).

    Args (broadcastable arrays): dh2 = ‖dh‖² > 0; dy2 = ⟨‖dy_i‖²⟩ ≥ 0; w = ⟨w_i⟩; tau_h, tau_y > 0 the effective
    time constants (1/τ_h = 1/τ_h1 + 1/τ_h2); n ≥ 1 the number of shared continuations N; target_gap =
    ⟨‖y*₂,i − y*₁,i‖²⟩ ≥ 0 (0 for a pair that agrees on every continuation, where ⟨w⟩ = ⟨‖dy‖²⟩: Eq. 33).
    """
    dh2, dy2, w = _positive(dh2, "dh2"), _nonneg(dy2, "dy2"), as_float(w, "w")
    tau_h, tau_y, n, gap = (
        _positive(tau_h, "tau_h"),
        _positive(tau_y, "tau_y"),
        _positive(n, "n"),
        _nonneg(target_gap, "target_gap"),
    )
    ny = 1.0 / (n * tau_y)
    d_dh2 = -0.5 / tau_h * w
    d_dy2 = -0.5 * (ny * dh2 + dy2 / (tau_h * dh2)) * w
    d_w = -0.25 * ny * (3.0 * w - dy2 + gap) * dh2 - 0.25 / tau_h * w / dh2 * (dy2 + w)
    return d_dh2, d_dy2, d_w


def midpoint_loss(h1, h2, ybar, D, y1, y2):
    """The free-parameter loss of Eq. 14 whose gradient flow Eq. 20 reduces: L = ½⟨‖ȳ_i + ½D_i(h_α − h_¬α) −
    y*_α,i‖²⟩ over the 2N points (α = 1, 2; i = 1…N).

    Shapes: h1, h2 (P,); ybar (N, K); D (N, K, P); y1, y2 (N, K) the targets after s₁ and s₂. With P = 1 the Ansatz
    of Eq. 17 holds exactly, so gradient flow on this loss (rates 1/τ_h1, 1/τ_h2 on h1, h2 and 1/τ_y on D) is an
    independent realisation of Eq. 20 (the ȳ_i decouple, Eq. 16).
    """
    r1 = ybar + 0.5 * jnp.einsum("nkp,p->nk", D, h1 - h2) - y1
    r2 = ybar + 0.5 * jnp.einsum("nkp,p->nk", D, h2 - h1) - y2
    return 0.5 * 0.5 * (jnp.mean(jnp.sum(r1**2, axis=-1)) + jnp.mean(jnp.sum(r2**2, axis=-1)))


def a_high(dh2_0, dy2_0, *, tau_h, tau_y, n):
    """A_high = ‖dh(0)‖² − (Nτ_y/τ_h)⟨‖dy_i(0)‖²⟩/‖dh(0)‖² (Eq. 6 = Eq. 25; ``dy2_0`` is the mean over the N
    continuations). The final distance of an agreeing pair is max(0, A_high)."""
    dh2_0, dy2_0 = _positive(dh2_0, "dh2_0"), _nonneg(dy2_0, "dy2_0")
    tau_h, tau_y, n = _positive(tau_h, "tau_h"), _positive(tau_y, "tau_y"), _nonneg(n, "n")
    return dh2_0 - n * tau_y / tau_h * dy2_0 / dh2_0


def a_high_general(dh2_0, dy2_0, *, tau_h, tau_y):
    """A_high with a decoder rate per continuation: ‖dh(0)‖² − Σ_i (τ_{y,i}/τ_h)‖dy_i(0)‖²/‖dh(0)‖² (derived in the
    module docstring; Eq. 6 when every τ_{y,i} = τ_y). ``dy2_0`` and ``tau_y`` hold the continuations on the last
    axis (``tau_y`` may be a scalar); entries with ``dy2_0`` = 0 (absent continuations) add nothing."""
    dh2_0, dy2_0 = _positive(dh2_0, "dh2_0"), _nonneg(dy2_0, "dy2_0")
    tau_h, tau_y = _positive(tau_h, "tau_h"), _positive(tau_y, "tau_y")
    return dh2_0 - jnp.sum(tau_y * dy2_0, axis=-1) / (tau_h * dh2_0)


def a_low(*, tau_h, tau_y, n, target_gap):
    """A_low = √(Nτ_y/τ_h)·√⟨‖y*₂,i − y*₁,i‖²⟩ (Eq. 6): 0 exactly when the pair agrees on every continuation."""
    tau_h, tau_y, n, gap = (
        _positive(tau_h, "tau_h"),
        _positive(tau_y, "tau_y"),
        _nonneg(n, "n"),
        _nonneg(target_gap, "target_gap"),
    )
    return jnp.sqrt(n * tau_y / tau_h) * jnp.sqrt(gap)


def final_distance(a_high_, a_low_):
    """‖dh(∞)‖² = ½A_high + √(¼A_high² + A_low²) (Eq. 5): the valid, stable fixed point of Eq. 23 (Eq. 24)."""
    ah, al = as_float(a_high_, "a_high"), _nonneg(a_low_, "a_low")
    return 0.5 * ah + jnp.sqrt(0.25 * ah**2 + al**2)


def merges(a_high_, a_low_):
    """Eq. 7: a pair merges (final distance 0) iff A_low = 0 and A_high < 0."""
    ah, al = as_float(a_high_, "a_high"), _nonneg(a_low_, "a_low")
    return (al == 0) & (ah < 0)


def critical_count(dh2_0, dy2_0, *, tau_h, tau_y):
    """N_c = τ_h‖dh(0)‖⁴/(τ_y⟨‖dy_i(0)‖²⟩): the number of shared continuations at which A_high = 0 (Eq. 6); an
    agreeing pair with these initial values merges iff N > N_c."""
    dh2_0, dy2_0 = _positive(dh2_0, "dh2_0"), _positive(dy2_0, "dy2_0")
    tau_h, tau_y = _positive(tau_h, "tau_h"), _positive(tau_y, "tau_y")
    return tau_h * dh2_0**2 / (tau_y * dy2_0)


def saddle_eigenvalues(a_high_, a_low_, *, tau_y, n):
    """Growth rates of ‖dh‖² near zero distance, λ± = (A_high ± √(A_high² + 4A_low²))/(4Nτ_y): one of each sign
    whenever A_low > 0, so zero distance is a saddle and a disagreeing pair is pushed apart (Eq. 32).

    On the invariant direction ⟨w⟩ = c‖dh‖² of Eq. 23, c² − κc − (τ_h/Nτ_y)⟨‖y*₂ − y*₁‖²⟩ = 0 with
    κ = −(τ_h/Nτ_y)A_high, and ‖dh‖² grows at −c/(2τ_h). Eq. 32 as printed has 2Nτ_y in the denominator (twice these
    rates): its Jacobian, Eq. 29, has −1/τ_h where Eq. 23 has −1/(2τ_h). The signs, which are the paper's point, agree;
    ``parity_merger_theory`` measures the rate on Eq. 20 and finds the value returned here.
    """
    ah, al = as_float(a_high_, "a_high"), _nonneg(a_low_, "a_low")
    tau_y, n = _positive(tau_y, "tau_y"), _positive(n, "n")
    root = jnp.sqrt(ah**2 + 4.0 * al**2)
    return (ah + root) / (4.0 * n * tau_y), (ah - root) / (4.0 * n * tau_y)


def dy2_from_dh2(dh2, dh2_0, dy2_0, *, tau_h, tau_y, n):
    """The invariant of Eq. 22: ⟨‖dy_i‖²⟩(t) = (τ_h/Nτ_y)‖dh‖⁴ + (⟨‖dy_i(0)‖²⟩/‖dh(0)‖² − (τ_h/Nτ_y)‖dh(0)‖²)‖dh‖²."""
    dh2, dh2_0, dy2_0 = _nonneg(dh2, "dh2"), _positive(dh2_0, "dh2_0"), _nonneg(dy2_0, "dy2_0")
    k = _positive(tau_h, "tau_h") / (_positive(n, "n") * _positive(tau_y, "tau_y"))
    return k * dh2**2 + (dy2_0 / dh2_0 - k * dh2_0) * dh2


def agreeing_trajectory(t, dh2_0, a_high_, *, tau_y, n):
    """‖dh(t)‖² of an agreeing pair (Eq. 35): A_high / (1 + (A_high/‖dh(0)‖² − 1) e^{−A_high t/(2Nτ_y)}).

    Decays monotonically to A_high when A_high > 0 and to 0 (a merger) when A_high ≤ 0; written with ``expm1`` so
    that A_high → 0 gives the exact limit ‖dh(0)‖²/(1 + ‖dh(0)‖² t/(2Nτ_y)). Vectorised over all arguments.
    """
    t = _nonneg(t, "t")
    h0, A = _positive(dh2_0, "dh2_0"), as_float(a_high_, "a_high")
    tau_y, n = _positive(tau_y, "tau_y"), _positive(n, "n")
    k = 1.0 / (2.0 * n * tau_y)
    x = -A * k * t
    # 1/h(t) = e^x/h0 + (1 − e^x)/A = e^x/h0 + k t·φ(x), φ(x) = expm1(x)/x (φ(0) = 1): exact as A → 0
    tiny = jnp.abs(x) < 1e-12
    phi = jnp.where(tiny, 1.0 + 0.5 * x, jnp.expm1(x) / jnp.where(tiny, 1.0, x))
    return 1.0 / (jnp.exp(x) / h0 + k * t * phi)


# ----------------------------------------------------------------------------------------------
# fixed expansion point (Eqs. 36–43)
# ----------------------------------------------------------------------------------------------
#: the nine variables of Eq. 42, in the order of :func:`fixed_point_rhs` (the authors' ``der`` order)
FIXED_POINT_VARIABLES = ("h1", "h2", "bD", "by1", "by2", "b2", "D2", "Dy1", "Dy2")


def fixed_point_rhs(z, *, eta_h1, eta_h2, eta_y, eta_b, n, y11, y12, y22):
    """Right-hand side of Eq. 42 for z = (h₁, h₂, ⟨bᵀDv⟩, ⟨bᵀy*₁⟩, ⟨bᵀy*₂⟩, ⟨‖b‖²⟩, ⟨‖Dv‖²⟩, ⟨y*₁ᵀDv⟩, ⟨y*₂ᵀDv⟩) on
    the last axis (averages over the N continuations).

    Rates: eta_h1 = 1/τ_h1, eta_h2 = 1/τ_h2 (representations), eta_y = 1/τ_y (the decoders D_i), eta_b = 1/τ_b (the
    offsets b_i); n = N; y_ab = ⟨y*_a,iᵀ y*_b,i⟩ (target products averaged over continuations; an agreeing pair has
    y11 = y12 = y22). Derived from the gradient flow on Eq. 37 (:func:`fixed_point_vector_loss`), which it reproduces
    exactly when the representations move along one direction (Eq. 39).
    """
    z = as_float(z, "z")
    if z.shape[-1] != 9:
        raise ParameterError(f"z must have 9 variables on its last axis; got shape {z.shape}")
    h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2 = (z[..., k] for k in range(9))
    e1, e2 = _positive(eta_h1, "eta_h1"), _positive(eta_h2, "eta_h2")
    ey, eb, n = _positive(eta_y, "eta_y"), _nonneg(eta_b, "eta_b"), _positive(n, "n")
    hm, h2m = 0.5 * (h1 + h2), 0.5 * (h1**2 + h2**2)
    Dym, bym = 0.5 * (Dy1 + Dy2), 0.5 * (by1 + by2)
    hb = 0.5 * (h1 * by1 + h2 * by2)
    hDy = 0.5 * (h1 * Dy1 + h2 * Dy2)
    hy1 = 0.5 * (h1 * y11 + h2 * y12)  # ⟨h_α y*₁ᵀy*_α⟩_α
    hy2 = 0.5 * (h1 * y12 + h2 * y22)
    d = [
        -e1 * 0.5 * (bD + h1 * D2 - Dy1),
        -e2 * 0.5 * (bD + h2 * D2 - Dy2),
        -eb / n * (bD + hm * D2 - Dym) - ey / n * (h2m * bD + hm * b2 - hb),
        -eb / n * (by1 + hm * Dy1 - 0.5 * (y11 + y12)),
        -eb / n * (by2 + hm * Dy2 - 0.5 * (y12 + y22)),
        -2.0 * eb / n * (b2 + hm * bD - bym),
        -2.0 * ey / n * (h2m * D2 + hm * bD - hDy),
        -ey / n * (h2m * Dy1 + hm * by1 - hy1),
        -ey / n * (h2m * Dy2 + hm * by2 - hy2),
    ]
    return jnp.stack(d, axis=-1)


def fixed_point_random_starts(key: jax.Array, n: int, scale: float):
    """``n`` initial states of Eq. 42 drawn as in the authors' Fig. 10 and ``theory_n_states`` code: h₁, h₂ ~ N(0, s²),
    ⟨‖Dv‖²⟩ and ⟨‖b‖²⟩ squares of N(0, s²) draws, every cross term 0 (no correlation at random initialisation, Eq. 45).
    ``scale`` s is the standard deviation of the network's initial hidden states. Returns (n, 9)."""
    check_int(n, "n", minimum=1)
    check_range(scale, "scale", low=0.0, low_inclusive=False)
    k = jax.random.split(key, 4)
    h1, h2, D, b = (scale * jax.random.normal(kk, (n,)) for kk in k)
    zero = jnp.zeros(n)
    return jnp.stack([h1, h2, zero, zero, zero, b**2, D**2, zero, zero], axis=-1)


def fixed_point_loss(z, *, y11, y22):
    """The training loss in the nine variables (Eq. 43): ½(⟨‖b‖²⟩ + ⟨h²⟩⟨‖Dv‖²⟩ + ⟨‖y*_α‖²⟩ + 2⟨h⟩⟨bᵀDv⟩
    − 2⟨h_α⟨y*_αᵀDv⟩⟩ − 2⟨⟨y*_αᵀb⟩⟩)."""
    z = as_float(z, "z")
    h1, h2, bD, by1, by2, b2, D2, Dy1, Dy2 = (z[..., k] for k in range(9))
    return 0.5 * (
        b2 + D2 * 0.5 * (h1**2 + h2**2) + 0.5 * (y11 + y22) + bD * (h1 + h2) - (h1 * Dy1 + h2 * Dy2) - (by1 + by2)
    )


def fixed_point_state(h1, h2, b, d, y1, y2):
    """The nine variables of Eq. 42 from vectors: scalar positions h1, h2 along v; b (N, K) offsets; d (N, K) = D_i v;
    y1, y2 (N, K) targets. Averages over the N continuations (axis −2). Also returns (y11, y12, y22)."""
    mean = lambda x: jnp.mean(jnp.sum(x, axis=-1), axis=-1)  # noqa: E731
    z = jnp.stack(
        jnp.broadcast_arrays(
            jnp.asarray(h1),
            jnp.asarray(h2),
            mean(b * d),
            mean(b * y1),
            mean(b * y2),
            mean(b * b),
            mean(d * d),
            mean(y1 * d),
            mean(y2 * d),
        ),
        axis=-1,
    )
    return z, (mean(y1 * y1), mean(y1 * y2), mean(y2 * y2))


def fixed_point_vector_loss(h1, h2, b, d, y1, y2):
    """Eq. 37 with representations h_α v (scalars h1, h2): L = ½⟨‖b_i + h_α d_i − y*_α,i‖²⟩ over the 2N points,
    d_i = D_i v (N, K). Gradient flow on it (rates 1/τ_hα on h_α, 1/τ_y on d, 1/τ_b on b) is what Eq. 42 reduces."""
    r1 = b + h1 * d - y1
    r2 = b + h2 * d - y2
    return 0.25 * (jnp.mean(jnp.sum(r1**2, axis=-1)) + jnp.mean(jnp.sum(r2**2, axis=-1)))


def rk4(f: Callable, y0, t_max: float, n_steps: int, n_out: int | None = None):
    """Integrate dy/dt = f(y) from 0 to ``t_max`` with ``n_steps`` classical Runge–Kutta steps in one ``lax.scan``
    (``y0`` any pytree; ``f`` vectorised over its leading axes). Returns (times (n_out + 1,), states with a new
    leading axis, the initial state first), recording every ``n_steps // n_out`` steps (default: every step)."""
    check_range(t_max, "t_max", low=0.0, low_inclusive=False)
    check_int(n_steps, "n_steps", minimum=1)
    n_out = n_steps if n_out is None else n_out
    check_int(n_out, "n_out", minimum=1, maximum=n_steps)
    if n_steps % n_out:
        raise ParameterError(f"n_steps must be a multiple of n_out={n_out}; got {n_steps}")
    dt = t_max / n_steps
    add = lambda a, b, c: jax.tree.map(lambda x, y: x + c * y, a, b)  # noqa: E731

    def step(y, _):
        k1 = f(y)
        k2 = f(add(y, k1, 0.5 * dt))
        k3 = f(add(y, k2, 0.5 * dt))
        k4 = f(add(y, k3, dt))
        y = jax.tree.map(lambda u, a, b, c, d: u + dt / 6 * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)
        return y, None

    def block(y, _):
        y, _ = jax.lax.scan(step, y, None, length=n_steps // n_out)
        return y, y

    _, ys = jax.lax.scan(block, y0, None, length=n_out)
    ys = jax.tree.map(lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), y0, ys)
    return jnp.linspace(0.0, t_max, n_out + 1), ys


# ----------------------------------------------------------------------------------------------
# scaling of the initial conditions (Eqs. 8–9)
# ----------------------------------------------------------------------------------------------
def fit_initial_scaling(m, dh2_0):
    """Least-squares fit of log‖dh(0)‖² = log c_h + m·log G over pairs (Eq. 8), from representations measured at
    initialisation. ``m`` = min(m₁, m₂) per pair, ``dh2_0`` > 0. Returns (c_h, G, residual std of the log)."""
    m = np.asarray(m, float).ravel()
    y = np.log(np.asarray(dh2_0, float).ravel())
    if m.size != y.size or m.size < 2 or np.ptp(m) == 0:
        raise ParameterError("m and dh2_0 must be equal-length arrays with at least two distinct values of m")
    if not np.all(np.isfinite(y)):
        raise ParameterError("dh2_0 must be > 0")
    A = np.stack([np.ones_like(m), m], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    return float(np.exp(coef[0])), float(np.exp(coef[1])), float(resid.std())


def scaling_merges(n, m, *, G, C, n_min=0):
    """Eq. 9 for a pair that agrees on every continuation: merge iff C < N·G^(n_min − m) (G < 1: longer prefixes,
    more shared continuations and smaller initial scale all favour merging)."""
    n, m = _nonneg(n, "n"), _nonneg(m, "m")
    G = as_float(G, "G")
    check_range(G, "G", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    C = _positive(C, "C")
    return C < n * G ** (_nonneg(n_min, "n_min") - m)


# ----------------------------------------------------------------------------------------------
# closing the prefix tree under merges (paper §4.2–4.4)
# ----------------------------------------------------------------------------------------------
def merge_closure(pairs, max_length: int) -> np.ndarray:
    """Classes of the prefixes of length 0…L (:func:`prefix_index` order) under the equivalence generated by the
    merging ``pairs`` (n, 2) and closed under right extension: s₁ ~ s₂ ⇒ s₁x ~ s₂x for each bit x while both are
    ≤ L long (merged representations are mapped to the same point by the recurrent map). Returns a class label per
    prefix (labels 0…k−1 in order of first appearance).

    Connected components of the pair graph, then, until nothing changes, every prefix's children joined to the
    children of its class's first member (a fixed point reached in at most L rounds; each round one sparse
    connected-components pass).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    check_int(max_length, "max_length", minimum=1)
    n_prefix = 2 ** (max_length + 1) - 1
    pairs = np.asarray(pairs, int).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n_prefix):
        raise ParameterError(f"pairs must hold prefix indices in [0, {n_prefix}); got values outside")
    inner = np.flatnonzero(prefix_lengths(max_length) < max_length)  # prefixes with children 2i+1, 2i+2
    edges = pairs
    n_classes = -1
    while True:
        graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_prefix, n_prefix))
        k, labels = connected_components(graph, directed=False)
        if k == n_classes:
            break
        n_classes = k
        first = np.full(k, n_prefix)
        np.minimum.at(first, labels, np.arange(n_prefix))
        rep = first[labels[inner]]
        has = np.isin(rep, inner) & (rep != inner)
        kids = [np.stack([2 * inner[has] + 1 + b, 2 * rep[has] + 1 + b], axis=1) for b in (0, 1)]
        edges = np.concatenate([pairs, *kids]) if has.any() else pairs
    order = {}
    return np.array([order.setdefault(int(x), len(order)) for x in labels])


def quotient_automaton(labels, max_length: int) -> Automaton:
    """The automaton of the classes ``labels`` (:func:`merge_closure`) on the prefix tree of length 0…L, with the
    parity of its sequences as each class's output (−1 for a class holding only the empty prefix; a class mixing
    parities takes its majority, and is then not a parity machine). Transitions follow the tree (class of s → class of
    sx); a class holding only length-L prefixes has none: the automaton is finite only if enough classes merged."""
    check_int(max_length, "max_length", minimum=1)
    labels = np.asarray(labels, int)
    n_prefix = 2 ** (max_length + 1) - 1
    if labels.shape != (n_prefix,):
        raise ParameterError(f"labels must have shape ({n_prefix},); got {labels.shape}")
    k = int(labels.max()) + 1
    trans = -np.ones((k, 2), int)
    n_internal = 2**max_length - 1
    for i in range(n_internal):
        for bit in (0, 1):
            trans[labels[i], bit] = labels[2 * i + 1 + bit]
    parity = np.array([s.count("1") % 2 for s in prefix_strings(max_length)])
    outs = -np.ones(k, int)
    for c in range(k):
        members = np.flatnonzero(labels == c)
        members = members[members > 0]
        if members.size:
            outs[c] = int(np.bincount(parity[members], minlength=2).argmax())
    return Automaton(trans, outs, int(labels[0]))
