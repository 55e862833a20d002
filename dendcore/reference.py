"""Slow, readable NumPy twins of the kernels, for tests only.

Written straight from MODEL.md with per-layer matrices, dense products and a
full spike history, one time step at a time.  They draw from the same random
streams in the same order as the kernels (:mod:`dendcore.rng`), so a test can
run both from the same state and compare weights, voltages and spikes.
"""
from __future__ import annotations

import math

import numpy as np

from . import rng as R
from .network import Network
from .spec import ModelSpec


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def dsigmoid(v):
    s = sigmoid(v)
    return s * (1.0 - s)


def psp_kernel(spec: ModelSpec) -> np.ndarray:
    t = np.arange(1, spec.psp_taps + 1)
    return (np.exp(-t / spec.tau_l_ms) - np.exp(-t / spec.tau_s_ms)) / (spec.tau_l_ms - spec.tau_s_ms)


class ReferenceModel:
    """Per-layer copies of a network's weights plus the dynamic state of the spiking model.

    Layer 0 is the input, L the output.  ``history[j]`` lists layer j's spike-count
    vectors, newest last; ``trace_l``/``trace_s`` are the exact-PSP traces.
    """

    def __init__(self, spec: ModelSpec, net: Network, budget: np.ndarray | None = None):
        self.spec = spec
        self.L = L = net.n_layers
        self.sizes = [int(s) for s in net.layout.sizes]
        self.fsrc = [int(f) for f in net.layout.fsrc]
        self.W = [None] + [net.W(j).copy() for j in range(1, L + 1)]
        self.b = [None] + [net.bias(j).copy() for j in range(1, L + 1)]
        self.Y = [None] + [net.Y(j).copy() for j in range(1, L)] + [None]
        self.c = [None] + [net.c[net.layer_slice(j)].copy() for j in range(1, L)] + [None]
        self.V = [np.zeros(n) for n in self.sizes]
        self.budget = [np.zeros(n) for n in self.sizes]
        if budget is not None:
            for j in range(1, L + 1):
                self.budget[j] = budget[net.layer_slice(j)].copy()
        self.history = [[] for _ in self.sizes]
        self.trace_l = [np.zeros(n) for n in self.sizes]
        self.trace_s = [np.zeros(n) for n in self.sizes]
        self.kappa = psp_kernel(spec)

    # ------------------------------------------------------------ spiking
    def psp(self, j: int) -> np.ndarray:
        """Filtered spike train of layer j up to its newest recorded step."""
        if self.spec.psp == "exact":
            raise AssertionError("exact PSPs are read from the traces")
        out = np.zeros(self.sizes[j])
        hist = self.history[j]
        for d, k in enumerate(self.kappa):
            i = len(hist) - 1 - d
            if i >= 0:
                out += k * hist[i]
        return out

    def exact_psp(self, j: int) -> np.ndarray:
        return (self.trace_l[j] - self.trace_s[j]) / (self.spec.tau_l_ms - self.spec.tau_s_ms)

    def input_spikes(self, x: np.ndarray, n_steps: int, rng) -> np.ndarray:
        """Counts per step and input: a Poisson count per input, spread uniformly over the phase."""
        counts = np.zeros((n_steps, x.size))
        for i in range(x.size):
            if x[i] <= 0:
                continue
            for _ in range(R.poisson(rng, self.spec.phi_max * x[i] * n_steps)):
                counts[int(R.uniform(rng) * n_steps), i] += 1
        return counts

    def poisson_spikes(self, j: int, rates: np.ndarray, rng) -> np.ndarray:
        """Time-rescaled Poisson counts: each neuron spends its Exp(1) budget."""
        counts = np.zeros(rates.size)
        for n in range(rates.size):
            self.budget[j][n] -= rates[n]
            while self.budget[j][n] <= 0:
                counts[n] += 1
                self.budget[j][n] += R.exponential(rng)
        return counts

    def phase(self, x, n_steps, label, window, va_windows, rng, record=None):
        """Run one phase; returns per-step arrays of V, phi, V_a and the basal PSPs."""
        s = self.spec
        L = self.L
        exact = s.psp == "exact"
        inputs = self.input_spikes(x, n_steps, rng)
        rec = {"V": [], "phi": [], "Va": [], "psp": [], "Vb": []}
        dl, ds = math.exp(-1 / s.tau_l_ms), math.exp(-1 / s.tau_s_ms)
        for k in range(n_steps):
            # what the apical compartments see: their source's PSP one step ago
            # (this step's spikes of the source are not in its history yet)
            fb = {}
            for j in range(1, L):
                src = self.fsrc[j]
                fb[j] = self.exact_psp(src) if exact else self.psp(src)
            self.history[0].append(inputs[k])
            if exact:
                self.trace_l[0] = dl * (self.trace_l[0] + inputs[k])
                self.trace_s[0] = ds * (self.trace_s[0] + inputs[k])
            Vs, phis, Vas, psps, Vbs = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
            psps[0] = self.exact_psp(0) if exact else self.psp(0)
            for j in range(1, L + 1):
                below = psps[j - 1]
                vb = self.W[j] @ below + self.b[j]
                v = self.V[j]
                if j < L:
                    va = s.feedback_scale * self.Y[j] @ fb[j] + self.c[j]
                    v = v + (-s.g_l * v + s.g_b * (vb - v) + s.g_a * (va - v))
                    Vas[j] = va
                else:
                    teach = np.zeros_like(v)
                    if label >= 0:
                        g_e = np.zeros_like(v)
                        g_e[label] = 1.0
                        teach = g_e * (s.e_exc - v) + (1 - g_e) * (s.e_inh - v)
                    v = v + (-s.g_l * v + s.g_d * (vb - v) + teach)
                self.V[j] = v
                phi = s.phi_max * sigmoid(v)
                spikes = self.poisson_spikes(j, phi, rng)
                self.history[j].append(spikes)
                if exact:
                    self.trace_l[j] = dl * (self.trace_l[j] + spikes)
                    self.trace_s[j] = ds * (self.trace_s[j] + spikes)
                psps[j] = self.exact_psp(j) if exact else self.psp(j)
                Vs[j], phis[j], Vbs[j] = v.copy(), phi, vb
            rec["V"].append(Vs)
            rec["phi"].append(phis)
            rec["Va"].append(Vas)
            rec["psp"].append(psps)
            rec["Vb"].append(Vbs)
        for j in range(L + 1):  # keep only what the kernel can still need
            self.history[j] = self.history[j][-s.psp_taps:]
        return rec

    def window(self, n_steps):
        s = self.spec
        return (s.settle_steps, n_steps) if s.window == "settle" else (n_steps - s.window_steps, n_steps)

    def plateau_windows(self, n_steps, rng):
        s = self.spec
        w0, w1 = self.window(n_steps)
        out = {}
        for j in range(1, self.L):
            d = np.zeros(self.sizes[j], dtype=int)
            if s.plateaus == "jittered":
                for n in range(self.sizes[j]):
                    d[n] = int(min(abs(round(s.jitter_sd_steps * R.normal(rng))), s.jitter_max_steps))
            end = w1 - d
            start = np.full_like(end, w0) if s.window == "settle" else w0 - d
            out[j] = (start, end)
        return out

    def phase_length(self, rng):
        s = self.spec
        if s.phases == "fixed":
            return s.phase_base_steps
        return s.phase_base_steps + int(min(math.floor(R.wald(rng, s.wald_mean, s.wald_scale)), 1000))

    def train_example(self, image_u8, label, rng):
        L = self.L
        x = image_u8 / 255.0
        lf = self.phase_length(rng)
        lt = self.phase_length(rng)
        means = {}
        for name, n, lab in (("f", lf, -1), ("t", lt, label)):
            vw = self.plateau_windows(n, rng)
            rec = self.phase(x, n, lab, None, vw, rng)
            w0, w1 = self.window(n)
            m = {
                "V": [None] + [np.mean([rec["V"][k][j] for k in range(w0, w1)], axis=0) for j in range(1, L + 1)],
                "phi": [None] + [np.mean([rec["phi"][k][j] for k in range(w0, w1)], axis=0) for j in range(1, L + 1)],
                "psp": [np.mean([rec["psp"][k][j] for k in range(w0, w1)], axis=0) for j in range(L + 1)],
                "Va": [None] * (L + 1),
            }
            for j in range(1, L):
                start, end = vw[j]
                m["Va"][j] = np.array([np.mean([rec["Va"][k][j][n] for k in range(start[n], end[n])])
                                       for n in range(self.sizes[j])])
            means[name] = m
        f, t = means["f"], means["t"]
        return self.learn(f["V"], f["psp"], [None] + [sigmoid(f["Va"][j]) for j in range(1, L)] + [None],
                          [None] + [sigmoid(t["Va"][j]) for j in range(1, L)] + [None], t["phi"][L],
                          f["Va"], rng)

    # ---------------------------------------------------------------- rate
    def rate_phase(self, x, label):
        s = self.spec
        L = self.L
        phi = [s.phi_max * x] + [None] * L
        V = [None] * (L + 1)
        Va = [None] * (L + 1)
        passes = 1 if s.g_a == 0 else 8
        for it in range(passes):
            for j in range(1, L + 1):
                vb = self.W[j] @ phi[j - 1] + self.b[j]
                if j < L:
                    V[j] = s.k_b * vb + (s.k_a * Va[j] if it > 0 else 0.0)
                elif label < 0:
                    V[j] = s.k_d * vb
                else:
                    target = np.where(np.arange(vb.size) == label, s.e_exc, s.e_inh)
                    V[j] = (s.g_d * vb + target) / (s.g_l + s.g_d + 1.0)
                phi[j] = s.phi_max * sigmoid(V[j])
            for j in range(1, L):
                Va[j] = s.feedback_scale * self.Y[j] @ phi[self.fsrc[j]] + self.c[j]
        return V, phi, Va

    def rate_train_example(self, image_u8, label, rng):
        x = image_u8 / 255.0
        Vf, phif, Vaf = self.rate_phase(x, -1)
        Vt, phit, Vat = self.rate_phase(x, label)
        L = self.L
        return self.learn(Vf, phif, [None] + [sigmoid(Vaf[j]) for j in range(1, L)] + [None],
                          [None] + [sigmoid(Vat[j]) for j in range(1, L)] + [None], phit[L], Vaf, rng)

    # ------------------------------------------------------------ learning
    def learn(self, Vf, sf, alpha_f, alpha_t, phit_out, Vaf, rng):
        """MODEL.md section 3, all errors first, then every update."""
        s = self.spec
        L = self.L
        theorem1 = self.theorem1_terms(Vf, Vaf) if L >= 2 else None
        e = [None] * (L + 1)
        ebp = [None] * (L + 1)
        losses = [None] * (L + 1)
        diff = phit_out - s.phi_max * sigmoid(Vf[L])
        losses[L] = float(diff @ diff)
        e[L] = ebp[L] = -s.k_d * s.phi_max * dsigmoid(Vf[L]) * diff
        for j in range(L - 1, 0, -1):
            slope = s.k_b * s.phi_max * dsigmoid(Vf[j])
            ebp[j] = (self.W[j + 1].T @ ebp[j + 1]) * slope
            if s.rule == "backprop":
                e[j] = ebp[j]
            elif s.rule == "feedback_alignment":
                e[j] = (s.feedback_scale * self.Y[j] @ e[self.fsrc[j]]) * slope
            else:
                e[j] = -slope * (alpha_t[j] - alpha_f[j])
            losses[j] = float((alpha_t[j] - alpha_f[j]) @ (alpha_t[j] - alpha_f[j]))
        for j in range(1, L + 1):
            p = s.p_output if j == L else s.p_hidden
            self.W[j] -= s.lr[j - 1] * p * np.outer(e[j], sf[j - 1])
            self.b[j] -= s.lr[j - 1] * p * e[j]
        if s.feedback in ("symmetric", "noisy_symmetric"):
            for j in range(L - 1, 0, -1):
                prod = self.W[j + 1].T
                for q in range(j + 2, self.fsrc[j] + 1):
                    prod = prod @ self.W[q].T
                self.Y[j] = prod.copy()
            if s.feedback == "noisy_symmetric":
                for j in range(1, L):
                    noise = np.array([R.normal(rng) for _ in range(self.Y[j].size)]).reshape(self.Y[j].shape)
                    self.Y[j] = self.Y[j] + s.symmetric_noise_sd * noise
        elif s.feedback == "learned":
            for j in range(1, L):
                e_inv = -dsigmoid(Vaf[j]) * (s.phi_max * sigmoid(Vf[j]) - alpha_f[j])
                self.Y[j] = self.Y[j] - s.feedback_lr * np.outer(e_inv, sf[self.fsrc[j]])
        return {"e": e, "ebp": ebp, "losses": losses, "prediction": int(np.argmax(Vf[L])), "theorem1": theorem1}

    def theorem1_terms(self, Vf, Vaf):
        """MODEL.md section 8, one example, weights before its update: the Jacobians of the top hidden layer.

        J_beta = phi_max s'(V_out) k_d W_out (output rates by top hidden rates); J_gamma = s'(V_a) Y (plateaus by
        output rates) at the mean apical potential; J_gamma_rate = s'(Y phi_max s(V_out) + c) Y at the apical
        potential the output's rate gives (2017 code).  ``product`` = J_beta J_gamma_rate, this example's term
        of the mean of products.
        """
        s = self.spec
        L = self.L
        Y = s.feedback_scale * self.Y[L - 1]
        j_beta = (s.phi_max * dsigmoid(Vf[L]))[:, None] * (s.k_d * self.W[L])
        slopes = dsigmoid(Vaf[L - 1])
        u = Y @ (s.phi_max * sigmoid(Vf[L])) + self.c[L - 1]
        j_gamma_rate = dsigmoid(u)[:, None] * Y
        return {"j_beta": j_beta, "apical_slopes": slopes, "product": j_beta @ j_gamma_rate}

    # ------------------------------------------------------------- testing
    def test_image(self, image_u8, rng):
        """Fresh state, one forward phase, mean output voltage from the window start on."""
        s = self.spec
        L = self.L
        self.V = [np.zeros(n) for n in self.sizes]
        self.history = [[] for _ in self.sizes]
        self.trace_l = [np.zeros(n) for n in self.sizes]
        self.trace_s = [np.zeros(n) for n in self.sizes]
        for j in range(1, L + 1):
            self.budget[j] = np.array([R.exponential(rng) for _ in range(self.sizes[j])])
        rec = self.phase(image_u8 / 255.0, s.test_steps, -1, None, None, rng)
        w0 = s.test_steps - 220 if s.test_window == "last220" else s.settle_steps
        return np.mean([rec["V"][k][L] for k in range(max(0, w0), s.test_steps)], axis=0)
