"""The training loop: chunks of examples through the kernels, snapshots out.

The loop stays in Python so a caller can show progress, stream snapshots,
change live parameters or stop between any two chunks.  Everything that
determines the run (weights, dynamic state, random streams, example order) is
held in arrays, so a run saved and loaded continues bit for bit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from . import rng as rngmod
from .datasets import Dataset, load_mnist
from .diagnostics import JacobianWindow, RowWindow, weight_angles, window_eigenvalues
from .kernels.layout import RULE_CODES, params_vector
from .kernels.spiking import make_dynamics, make_sums, rebuild_projections, reset_dynamics
from .kernels.train import (FEEDBACK_FIXED, FEEDBACK_LEARNED, FEEDBACK_SYMMETRIC, Options, new_means,
                            new_outputs, train_chunk_rate, train_chunk_spiking)
from .network import Network, build_network
from .snapshot import SCHEMA_VERSION, Snapshot, Traces
from .spec import LIVE_FIELDS, ModelSpec, SpecError
from .evaluation import (RATE_FIXED_POINT_ITERATIONS, TestResult, key_of_test, rate_forward_batch, simulation_dtype,
                         test_network)


class DivergenceError(RuntimeError):
    """Raised when an example produces non-finite values; the update was not applied."""

    def __init__(self, message: str, example: int, layer: str):
        super().__init__(message)
        self.example = example
        self.layer = layer


@dataclass(frozen=True)
class Diagnostics:
    """Which diagnostics the snapshots carry (each can be switched off)."""
    losses: bool = True
    plateaus: bool = True
    angles: bool = True          # angle of the rule's hidden error to backprop's
    alignment: bool = True       # forward/feedback weight angle
    eigen: bool = True           # Theorem-1 eigenvalues
    traces: bool = False         # voltage traces of the latest example (spiking only)
    probe: bool = False          # top-hidden activity of a fixed probe set (for t-SNE)
    probe_size: int = 1000
    plateau_samples: int = 20    # sample neurons per hidden layer for alpha_f/alpha_t
    trace_neurons: int = 3       # per hidden layer, plus every output neuron
    angle_window: int = 100
    correlation_window: int = 1000

    @classmethod
    def none(cls) -> "Diagnostics":
        return cls(losses=False, plateaus=False, angles=False, alignment=False, eigen=False)


@dataclass
class ChunkStats:
    """Per-example outputs of one or more chunks."""
    indices: np.ndarray
    labels: np.ndarray
    pred: np.ndarray
    loss: np.ndarray       # (n, L): column 0 output, column j hidden layer j
    angle: np.ndarray      # (n, L): column j hidden layer j (NaN where not measured)
    lengths: np.ndarray    # (n, 2) phase lengths

    @classmethod
    def join(cls, parts: list["ChunkStats"]) -> "ChunkStats":
        """The stats of consecutive chunks as one (a snapshot over all of them)."""
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


def _feedback_mode(spec: ModelSpec) -> int:
    if spec.feedback in ("symmetric", "noisy_symmetric"):
        return FEEDBACK_SYMMETRIC
    if spec.feedback == "learned":
        return FEEDBACK_LEARNED
    return FEEDBACK_FIXED


class Trainer:
    """Online training of one network on one dataset.

    >>> tr = Trainer(GLR17_1HL.replace(mode="rate"), seed=0)
    >>> for snap in tr.run(examples=1000, snapshot_every=500): print(snap.train_error_pct)
    """

    def __init__(self, spec: ModelSpec, data: Dataset | None = None, seed: int = 0,
                 diagnostics: Diagnostics = Diagnostics(), chunk: int = 100):
        self.data = data if data is not None else load_mnist()
        if self.data.n_inputs != spec.n_inputs or self.data.n_classes > spec.n_outputs:
            spec = spec.replace(n_inputs=self.data.n_inputs, n_outputs=max(spec.n_outputs, self.data.n_classes))
        self.spec = spec
        self.seed = int(seed)
        self.diagnostics = diagnostics
        self.chunk = int(chunk)
        self.net = build_network(spec, self.seed)
        self.prm = params_vector(spec)
        self.kappa = np.array(spec.kernel())
        n_total, L = self.net.n_total, self.net.n_layers
        sim = simulation_dtype(spec)
        self.dyn = make_dynamics(n_total, spec.psp_taps, sim)
        self.rng_train = rngmod.new_state(self.seed, rngmod.STREAM_TRAIN)
        self.rng_order = rngmod.new_state(self.seed, rngmod.STREAM_ORDER)
        reset_dynamics(self.dyn, self.rng_train, spec.n_inputs)
        self.examples_seen = 0
        self.wall_s = 0.0
        self.last_test_images_per_s: float | None = None
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0
        # scratch the kernels write into
        self._sums_f = make_sums(n_total, L, sim)
        self._sums_t = make_sums(n_total, L, sim)
        # the float32 simulation's weights: refreshed from the float64 ones before every chunk (so
        # weights set by hand or restored are picked up), kept equal to them rounded by learning
        self._ws = self.net.w.astype(sim) if sim is not np.float64 else None
        self._bs = self.net.b.astype(sim) if sim is not np.float64 else None
        self._means = new_means(n_total)
        self._va_w0 = np.zeros(n_total, dtype=np.int64)
        self._va_w1 = np.zeros(n_total, dtype=np.int64)
        self._v_t = np.zeros(n_total)
        self._phi_t = np.zeros(n_total)
        self._sample_idx = self._pick_samples(diagnostics.plateau_samples, seed_offset=0)
        self._trace_idx = self._pick_trace_neurons()
        max_rows = 2 * (spec.phase_base_steps + 1001)
        self._rec = np.zeros((max_rows, 3, self._trace_idx.size))
        # diagnostics history
        self._angles = RowWindow(diagnostics.angle_window)
        self._loss_hist = RowWindow(diagnostics.correlation_window)
        n_out, n_top = int(self.net.layout.sizes[L]), int(self.net.layout.sizes[L - 1])
        self._jac = JacobianWindow(n_out, n_top, diagnostics.angle_window, self.chunk)
        self._no_jac = (np.zeros((n_out, n_top)), np.zeros(n_top), np.zeros((n_out, n_top)))   # not written
        self._latest_traces: Traces | None = None
        self._latest_alpha: np.ndarray | None = None
        self._probe_idx = np.arange(min(diagnostics.probe_size, len(self.data.test_labels)))

    # ------------------------------------------------------------------ setup
    def _pick_samples(self, per_layer: int, seed_offset: int) -> np.ndarray:
        out = []
        pick = rngmod.new_state(self.seed, rngmod.STREAM_INIT, 1000 + seed_offset)
        for j in range(1, self.net.n_layers):
            sl = self.net.layer_slice(j)
            n = sl.stop - sl.start
            perm = rngmod.permutation(pick, n)[:min(per_layer, n)]
            out.extend(sorted(sl.start + int(p) for p in perm))
        return np.array(out, dtype=np.int64)

    def _pick_trace_neurons(self) -> np.ndarray:
        if not self.diagnostics.traces or self.spec.mode != "spiking":
            return np.zeros(0, dtype=np.int64)
        idx = list(self._pick_samples(self.diagnostics.trace_neurons, seed_offset=1))
        L = self.net.n_layers
        idx.extend(range(*self.net.layer_slice(L).indices(self.net.n_total)))
        return np.array(idx, dtype=np.int64)

    def neuron_name(self, g: int) -> str:
        L = self.net.n_layers
        for j in range(1, L + 1):
            sl = self.net.layer_slice(j)
            if sl.start <= g < sl.stop:
                return f"out[{g - sl.start}]" if j == L else f"h{j}[{g - sl.start}]"
        return f"in[{g}]"

    def _options(self) -> Options:
        s = self.spec
        return Options(
            random_phases=s.phases == "random", base_steps=s.phase_base_steps, wald_mean=s.wald_mean,
            wald_scale=s.wald_scale, settle=s.settle_steps, window_steps=s.window_steps,
            use_settle=s.window == "settle", jitter_sd=s.jitter_sd_steps if s.plateaus == "jittered" else 0.0,
            jitter_max=s.jitter_max_steps, exact=s.psp == "exact", rule=RULE_CODES[s.rule],
            feedback_mode=_feedback_mode(s),
            noise_sd=s.symmetric_noise_sd if s.feedback == "noisy_symmetric" else 0.0,
            feedback_lr=s.feedback_lr, want_angles=self.diagnostics.angles)

    # ------------------------------------------------------------ live changes
    def set_live(self, **changes) -> ModelSpec:
        """Change learning rates, g_a or the feedback scale between two examples."""
        bad = set(changes) - set(LIVE_FIELDS)
        if bad:
            raise SpecError(f"{', '.join(sorted(bad))}: cannot change while running (live fields: {', '.join(LIVE_FIELDS)})")
        self.spec = self.spec.replace(**changes)  # validates
        self.prm[:] = params_vector(self.spec)
        return self.spec

    # ------------------------------------------------------------------ order
    @property
    def n_train(self) -> int:
        return len(self.data.train_labels)

    @property
    def epoch(self) -> float:
        return self.examples_seen / self.n_train

    def _next_indices(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            if self._pos >= self._perm.size:
                self._perm = rngmod.permutation(self.rng_order, self.n_train)
                self._pos = 0
            take = min(n - filled, self._perm.size - self._pos)
            out[filled:filled + take] = self._perm[self._pos:self._pos + take]
            filled += take
            self._pos += take
        return out

    def _peek_rewind(self, n_used: int, order: np.ndarray) -> None:
        """After a divergence, put back the examples that were not trained on."""
        unused = order.size - n_used
        if unused and self._pos >= unused:
            self._pos -= unused

    # --------------------------------------------------------------- training
    def train_examples(self, n: int, record_last: bool = False) -> ChunkStats:
        """Train on the next ``n`` examples of the (reshuffled each epoch) training set."""
        parts = []
        remaining = int(n)
        while remaining > 0:
            # pieces end on multiples of ``chunk`` examples, whatever the calls: the diagnostics'
            # Jacobian blocks then cover the same examples however a run is split into calls
            take = min(remaining, self.chunk - self.examples_seen % self.chunk)
            remaining -= take
            parts.append(self._run_chunk(take, record_last and remaining == 0))
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            L = self.net.n_layers
            return ChunkStats(z, z, z, np.zeros((0, L)), np.zeros((0, L)), np.zeros((0, 2), dtype=np.int64))
        return ChunkStats.join(parts)

    def _run_chunk(self, n: int, record: bool) -> ChunkStats:
        spec, net = self.spec, self.net
        L = net.n_layers
        order = self._next_indices(n)
        out = new_outputs(n, L, self._sample_idx.size)
        want_jac = self.diagnostics.eigen and L >= 2
        # a piece that starts inside a block goes on adding into it, in the same order as one long call
        if want_jac:
            jb, jg, jm = self._jac.open(continuing=self.examples_seen % self.chunk != 0)
        else:
            jb, jg, jm = self._no_jac
        lr = np.array(spec.lr)
        rec_idx = self._trace_idx if record else np.zeros(0, dtype=np.int64)
        images, labels = self.data.train_images, self.data.train_labels
        t0 = time.perf_counter()
        if spec.mode == "spiking":
            ws, bs = self._simulated_weights()
            done = train_chunk_spiking(net.layout, self.prm, self.kappa, net.w, net.b, net.y, net.c, self.dyn,
                                       self._sums_f, self._sums_t, self._means, images, labels, order,
                                       self._options(), lr, self.rng_train, out, self._sample_idx, jb, jg, jm,
                                       want_jac, self._rec, rec_idx, self._va_w0, self._va_w1,
                                       self.examples_seen, ws, bs)
        else:
            done = train_chunk_rate(net.layout, self.prm, net.w, net.b, net.y, net.c, self._means, images, labels,
                                    order, self._options(), lr, self.rng_train, out, self._sample_idx, jb, jg, jm,
                                    want_jac, RATE_FIXED_POINT_ITERATIONS, self._v_t, self._phi_t)
        self.wall_s += time.perf_counter() - t0
        if done < n:
            self._diverged(order, done, out)
        self.examples_seen += n
        if want_jac:
            self._jac.close(n)
        if self._sample_idx.size:
            self._latest_alpha = out.alpha[n - 1].copy()
        if record and rec_idx.size:
            self._store_traces(out.lengths[n - 1])
        stats = ChunkStats(order, labels[order], out.pred, out.loss, out.angle, out.lengths)
        if L >= 2:
            self._angles.extend(out.angle[:n, 1:L])
        self._loss_hist.extend(out.loss[:n])
        return stats

    def _simulated_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights the spiking simulation reads: the float64 ones, or their float32 copies made current."""
        if self._ws is None:
            return self.net.w, self.net.b
        np.copyto(self._ws, self.net.w, casting="same_kind")
        np.copyto(self._bs, self.net.b, casting="same_kind")
        return self._ws, self._bs

    def weights_changed(self) -> None:
        """Call after editing weights by hand: the basal filter states are rebuilt."""
        rebuild_projections(self.net.layout, self.prm, self.kappa, self._simulated_weights()[0], self.dyn,
                            self.spec.psp == "exact")

    def _diverged(self, order, done, out):
        j = int(out.flag[done])
        L = self.net.n_layers
        layer = "output" if j == L else f"hidden layer {j}"
        example = self.examples_seen + done + 1
        self.examples_seen += done
        self._peek_rewind(done + 1, order)
        # the voltages may be non-finite now; weights are as after the last good example
        reset_dynamics(self.dyn, self.rng_train, self.spec.n_inputs)
        raise DivergenceError(
            f"training diverged at example {example} (dataset index {int(order[done])}): non-finite or "
            f"exploding error in the {layer} (learning rates {list(self.spec.lr)}); the weights were kept "
            f"as after example {example - 1}", example, layer)

    def _store_traces(self, lengths) -> None:
        lf, lt = int(lengths[0]), int(lengths[1])
        rows = self._rec[:lf + lt]
        s = self.spec

        def win(n):
            return (s.settle_steps, n) if s.window == "settle" else (n - s.window_steps, n)
        f0, f1 = win(lf)
        t0, t1 = win(lt)
        # one array, not rows of Python lists: ~300 lists per snapshot filled the garbage collector's
        # oldest generation wherever snapshots are kept (a presenter's curve, a crowded page's queue)
        rec = rows.copy()
        self._latest_traces = Traces(
            neurons=[self.neuron_name(int(g)) for g in self._trace_idx],
            V=rec[:, 0, :], V_b=rec[:, 1, :], V_a=rec[:, 2, :],
            forward_steps=lf, target_steps=lt, forward_window=(f0, f1), target_window=(lf + t0, lf + t1))

    # ---------------------------------------------------------------- testing
    def test(self, n_images: int | None = None, indices: np.ndarray | None = None) -> TestResult:
        if indices is None:
            total = len(self.data.test_labels)
            indices = np.arange(total if n_images is None else min(int(n_images), total))
        res = test_network(self.net, self.spec, self.prm, self.kappa, self.data, indices, self.seed)
        self.last_test_images_per_s = res.images_per_s
        return res

    def state(self) -> dict[str, np.ndarray]:
        """A copy of everything needed to go on from here (see :meth:`resume`)."""
        from .runio import trainer_state
        return trainer_state(self)

    @classmethod
    def resume(cls, spec: ModelSpec, data: Dataset, seed: int, state: dict[str, np.ndarray], **kwargs) -> "Trainer":
        """A trainer that goes on exactly where the one whose :meth:`state` this is stood."""
        from .runio import restore_state
        tr = cls(spec, data, seed=seed, **kwargs)
        restore_state(tr, state)
        return tr

    def frozen(self) -> "FrozenNetwork":
        """A copy of the network as it is now, testable from another thread while this one trains on."""
        return FrozenNetwork(self.net.copy(), self.spec, self.prm.copy(), self.kappa.copy(), self.data, self.seed,
                             self.examples_seen, self.epoch, self.wall_s)

    # ------------------------------------------------------------- snapshots
    def snapshot(self, stats: ChunkStats, test: TestResult | None = None, window_diagnostics: bool = True) -> Snapshot:
        """The run's state after ``stats``; without ``window_diagnostics`` only the latest example's
        (no angles, alignment, eigenvalues or loss correlation: a display between two snapshots)."""
        d = self.diagnostics
        L = self.net.n_layers
        n = len(stats.labels)
        snap = Snapshot(
            version=SCHEMA_VERSION, examples_seen=self.examples_seen, epoch=self.epoch, wall_s=self.wall_s,
            examples=n,
            loss_output=float(stats.loss[:, 0].mean()) if d.losses and n else None,
            loss_hidden=[float(stats.loss[:, j].mean()) for j in range(1, L)] if d.losses and n and L > 1 else None,
            train_error_pct=float(100.0 * np.mean(stats.pred != stats.labels)) if n else None,
            lr=list(self.spec.lr), g_a=self.spec.g_a, feedback_scale=self.spec.feedback_scale)
        if test is not None:
            snap.test_error_pct = test.error_pct
            snap.test_images = test.n_images
        if window_diagnostics and d.losses and L > 1 and len(self._loss_hist) >= 10:
            snap.loss_correlation = [float(c) for c in self._loss_hist.column_correlations()[:L - 1]]
        if d.plateaus and self._latest_alpha is not None:
            k = d.plateau_samples
            a = self._latest_alpha
            snap.alpha_f = [a[0, i * k:(i + 1) * k].tolist() for i in range(L - 1)]
            snap.alpha_t = [a[1, i * k:(i + 1) * k].tolist() for i in range(L - 1)]
        if window_diagnostics and d.angles and L > 1 and len(self._angles):
            snap.angle_to_backprop_deg = [float(v) for v in self._angles.column_nanmeans()]
        if window_diagnostics and d.alignment and L > 1:
            snap.weight_angle_deg = weight_angles(self.net)
        if window_diagnostics and d.eigen and L > 1 and self._jac:
            snap.eig_jacobian, snap.eig_weights, snap.eig_jacobian_paper = window_eigenvalues(
                self.net, self.spec, self._jac)
        if d.traces and self._latest_traces is not None:
            snap.traces = self._latest_traces
        if d.probe and L > 1:
            snap.probe_activity = self.probe_activity().tolist()
        if n:
            last = int(stats.indices[-1])
            snap.example_index = last
            snap.example_label = int(stats.labels[-1])
            snap.example_prediction = int(stats.pred[-1])
            out = self.net.layer_slice(L)
            snap.example_output_rates = self._means.phif[out].tolist()
        return snap

    @property
    def probe_indices(self) -> np.ndarray:
        """Test-set indices of the fixed probe images (for t-SNE)."""
        return self._probe_idx

    def probe_activity(self, layer: int | None = None) -> np.ndarray:
        """Steady-state rates of a hidden layer (default: the top one) for the fixed probe images."""
        L = self.net.n_layers
        layer = L - 1 if layer is None else layer
        x = self.data.test_images[self._probe_idx]
        rates = rate_forward_batch(self.net, self.spec, x)
        return rates[layer]

    def run(self, examples: int | None = None, epochs: float | None = None, snapshot_every: int = 1000,
            test_every: int | None = None, test_images: int | None = None,
            test_at_end: bool = True, changes: Sequence[tuple[int, dict]] = ()) -> Iterator[Snapshot]:
        """Train and yield a snapshot every ``snapshot_every`` examples (and at the end).

        ``changes`` are live changes as ``(examples_seen, {field: value})``: each is applied when
        the network has seen exactly that many examples, before the next one, as the dashboard
        did when it recorded them (a snapshot's window may span a change; its rows are the same
        as the dashboard's, since training in pieces gives the same numbers as in one go).
        """
        if examples is None:
            examples = int(round((epochs or 1.0) * self.n_train))
        target = self.examples_seen + int(examples)
        pending_changes = sorted(((int(at), dict(c)) for at, c in changes), key=lambda ch: ch[0])
        if pending_changes and pending_changes[0][0] < self.examples_seen:
            raise SpecError(f"a live change at example {pending_changes[0][0]} is before this run's start "
                            f"({self.examples_seen} examples seen)")
        next_test = self.examples_seen + test_every if test_every else None
        while self.examples_seen < target:
            end = min(self.examples_seen + snapshot_every, target)
            if next_test is not None:
                end = min(end, next_test)
            parts = []
            while self.examples_seen < end:
                while pending_changes and pending_changes[0][0] == self.examples_seen:
                    self.set_live(**pending_changes.pop(0)[1])
                stop = min(end, pending_changes[0][0]) if pending_changes else end
                parts.append(self.train_examples(stop - self.examples_seen, record_last=self.diagnostics.traces))
            stats = parts[0] if len(parts) == 1 else ChunkStats.join(parts)
            test = None
            at_end = self.examples_seen >= target
            if (next_test is not None and self.examples_seen >= next_test) or (at_end and test_at_end):
                test = self.test(test_images)
                if next_test is not None:
                    next_test += test_every
            yield self.snapshot(stats, test)
        while pending_changes and pending_changes[0][0] == self.examples_seen:
            self.set_live(**pending_changes.pop(0)[1])      # a change recorded at the very end still holds


@dataclass(frozen=True)
class FrozenNetwork:
    """The weights and settings of a trainer at one example count (see :meth:`Trainer.frozen`)."""
    net: Network
    spec: ModelSpec
    prm: np.ndarray
    kappa: np.ndarray
    data: Dataset
    seed: int
    examples_seen: int
    epoch: float
    wall_s: float

    def test(self, indices: np.ndarray) -> TestResult:
        return test_network(self.net, self.spec, self.prm, self.kappa, self.data, indices, self.seed)

    def key_of_test(self, indices: np.ndarray) -> str:
        """Equal for two frozen networks when their :meth:`test` of ``indices`` must agree."""
        return key_of_test(self.net, self.spec, self.prm, self.kappa, self.data, indices, self.seed)

