"""PyTorch peer of the RealNVP training step in benches/learning.rs: maximum likelihood for four
affine couplings on 2-D data (alternating masks; the conditioner of each is a 2 -> 64 -> 64 -> 2
tanh MLP of the masked input giving the raw log-scale s_hat and the shift t of the other
coordinate, s = 3 tanh(s_hat / 3)), standard-normal base, one Adam step per batch, CPU.

Prints steps/s and samples/s for batch 512 (and 4096).
Usage: python benches/peers/realnvp_nll.py [--threads 2] [--seconds 5]
"""
import argparse
import math
import time

import torch


class Coupling(torch.nn.Module):
    def __init__(self, keep, hidden=64):
        super().__init__()
        self.register_buffer("mask", torch.tensor(keep, dtype=torch.float32))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, 2))

    def inverse(self, x):
        h = self.net(x * self.mask)
        s = 3.0 * torch.tanh(h[:, :1] / 3.0)
        t = h[:, 1:]
        other = 1.0 - self.mask
        z = x * self.mask + other * (x - t) * torch.exp(-s)
        return z, -s.sum(dim=1)


class RealNvp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [Coupling([1.0, 0.0] if k % 2 == 0 else [0.0, 1.0]) for k in range(4)])

    def nll(self, x):
        logdet = torch.zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, l = layer.inverse(x)
            logdet = logdet + l
        logp = -0.5 * (x ** 2).sum(dim=1) - math.log(2 * math.pi) + logdet
        return -logp.mean()


def eight_gaussians(n):
    k = torch.randint(0, 8, (n,))
    a = k.float() * math.pi / 4
    centres = torch.stack([4 * torch.cos(a), 4 * torch.sin(a)], dim=1)
    return (centres + 0.5 * torch.randn(n, 2)) / 1.414


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch in (512, 4096):
        model = RealNvp()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = eight_gaussians(batch)

        def step():
            loss = model.nll(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(20):
            step()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            step()
            n += 1
        dt = time.perf_counter() - t0
        print(f"batch {batch}: {n / dt:.1f} steps/s, {batch * n / dt / 1e3:.1f} k samples/s")


if __name__ == "__main__":
    main()
