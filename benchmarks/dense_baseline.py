"""The spiking model stepped densely in NumPy, the way the 2017 code computes it.

Every millisecond: Poisson counts for all 784 inputs, the 10-tap PSP of every
input, a full (500 x 784) product for the basal potentials, and so on.  It is
here only to be timed next to the event-driven kernels on the same machine in
the same run; it follows MODEL.md but draws its random numbers from NumPy.
"""
from __future__ import annotations

import numpy as np

from dendcore.network import Network
from dendcore.spec import ModelSpec


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


class DenseSpikingNetwork:
    def __init__(self, spec: ModelSpec, net: Network, seed: int = 0):
        self.s = spec
        self.L = net.n_layers
        self.W = [None] + [net.W(j).copy() for j in range(1, self.L + 1)]
        self.b = [None] + [net.bias(j).copy() for j in range(1, self.L + 1)]
        self.Y = [None] + [net.Y(j).copy() for j in range(1, self.L)]
        self.sizes = [int(n) for n in net.layout.sizes]
        self.kappa = np.array(spec.kernel())[:, None]
        self.hist = [np.zeros((spec.psp_taps, n)) for n in self.sizes]
        self.V = [np.zeros(n) for n in self.sizes]
        self.rng = np.random.default_rng(seed)

    def _push(self, j, spikes):
        h = self.hist[j]
        h[1:] = h[:-1]
        h[0] = spikes
        return (self.kappa * h).sum(axis=0)

    def phase(self, x, n, label):
        s, L = self.s, self.L
        w0 = n - s.window_steps
        acc_v = [np.zeros(k) for k in self.sizes]
        acc_phi = [np.zeros(k) for k in self.sizes]
        acc_psp = [np.zeros(k) for k in self.sizes]
        acc_va = [np.zeros(k) for k in self.sizes]
        psp_out = (self.kappa * self.hist[L]).sum(axis=0)
        for k in range(n):
            psp = [self._push(0, self.rng.poisson(s.phi_max * x))]
            for j in range(1, L + 1):
                vb = self.W[j] @ psp[j - 1] + self.b[j]
                v = self.V[j]
                if j < L:
                    va = self.Y[j] @ psp_out
                    v += -s.g_l * v + s.g_b * (vb - v) + s.g_a * (va - v)
                else:
                    teach = 0.0
                    if label >= 0:
                        e = np.full(v.size, s.e_inh)
                        e[label] = s.e_exc
                        teach = e - v
                    v += -s.g_l * v + s.g_d * (vb - v) + teach
                phi = s.phi_max * _sig(v)
                psp.append(self._push(j, self.rng.poisson(phi)))
                if k >= w0:
                    acc_v[j] += v
                    acc_phi[j] += phi
                    acc_psp[j - 1] += psp[j - 1]
                    if j < L:
                        acc_va[j] += va
            psp_out = psp[L]
        m = float(n - w0)
        return [a / m for a in acc_v], [a / m for a in acc_phi], [a / m for a in acc_psp], [a / m for a in acc_va]

    def train_example(self, image_u8, label):
        s, L = self.s, self.L
        x = image_u8 / 255.0
        vf, phif, sf, vaf = self.phase(x, s.phase_base_steps, -1)
        vt, phit, st, vat = self.phase(x, s.phase_base_steps, label)
        e = [None] * (L + 1)
        e[L] = -s.k_d * s.phi_max * _sig(vf[L]) * (1 - _sig(vf[L])) * (phit[L] - s.phi_max * _sig(vf[L]))
        for j in range(1, L):
            sl = _sig(vf[j]) * (1 - _sig(vf[j]))
            e[j] = -s.k_b * s.phi_max * sl * (_sig(vat[j]) - _sig(vaf[j]))
        for j in range(1, L + 1):
            p = s.p_output if j == L else s.p_hidden
            self.W[j] -= s.lr[j - 1] * p * np.outer(e[j], sf[j - 1])
            self.b[j] -= s.lr[j - 1] * p * e[j]
