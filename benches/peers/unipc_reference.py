"""UniPC's reference implementation (Zhao et al. 2023, github.com/wl-zhao/UniPC, file
uni_pc.py) on the exact denoiser of the mixtures of examples/sampler_quality.rs, from the same
start points as examples/unipc_points.rs, compared point by point with flowscore's UniPC.

    python unipc_reference.py DIR PATH/TO/uni_pc.py

DIR holds mixtures.json (examples/sampler_quality.rs --out DIR) and unipc_2d.csv, unipc_8d.csv
(examples/unipc_points.rs --out DIR). Prints the largest |flowscore - reference| per variant.
Needs torch and numpy.
"""
import builtins
import importlib.util
import json
import sys

import numpy as np
import torch


def load_reference(path):
    spec = importlib.util.spec_from_file_location("uni_pc", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def as_f32(values):
    """The mixture's parameters as flowscore holds them: f32, then widened."""
    return torch.tensor(np.asarray(values, dtype=np.float32).astype(np.float64))


def noise_prediction(weights, means, covs, schedule):
    """eps_hat(x, t) = -sigma_t * grad log p_t(x) of the perturbed mixture, on (N, D, 1, 1)."""
    d = means.shape[1]
    log_w = torch.log(weights)

    def model(x4, t):
        x = x4.reshape(x4.shape[0], -1)
        a, s = schedule.marginal_alpha(t[0]), schedule.marginal_std(t[0])
        cov_t = a * a * covs + s * s * torch.eye(d, dtype=torch.float64)
        prec = torch.linalg.inv(cov_t)
        diff = x[:, None, :] - a * means[None]
        quad = torch.einsum("nki,kij,nkj->nk", diff, prec, diff)
        resp = torch.softmax(log_w[None] - 0.5 * quad - 0.5 * torch.logdet(cov_t)[None], dim=1)
        score = -torch.einsum("nk,kij,nkj->ni", resp, prec, diff)
        return (-s * score).reshape(x4.shape)

    return model


def main():
    out_dir, ref_path = sys.argv[1], sys.argv[2]
    # The reference builds its step weights in the default dtype: float64, as flowscore does.
    torch.set_default_dtype(torch.float64)
    ref = load_reference(ref_path)
    mixtures = json.load(open(f"{out_dir}/mixtures.json"))
    schedule = ref.NoiseScheduleVP("linear", continuous_beta_0=0.1, continuous_beta_1=20.0,
                                   dtype=torch.float64)
    for mix, name in zip(mixtures, ["unipc_2d.csv", "unipc_8d.csv"]):
        weights, means = as_f32(mix["weights"]), as_f32(mix["means"])
        covs = as_f32(mix["covariances"])
        d = means.shape[1]
        ours = {}
        for line in open(f"{out_dir}/{name}"):
            tag, steps, _, *xs = line.strip().split(",")
            ours.setdefault((tag, int(steps)), []).append([float(v) for v in xs])
        start = as_f32(mix["start"])
        eps = float(np.float32(mix["eps"]))
        model = noise_prediction(weights, means, covs, schedule)
        for (tag, steps), rows in ours.items():
            variant, order = tag.split("-")
            solver = ref.UniPC(model, schedule, algorithm_type="data_prediction", variant=variant)
            x_t = start[: len(rows)].clone().reshape(-1, d, 1, 1)
            quiet, builtins.print = builtins.print, lambda *a, **k: None
            try:
                x = solver.sample(x_t, steps=steps, t_start=float(mix["t_max"]), t_end=eps,
                                  order=int(order), skip_type="time_quadratic",
                                  method="multistep", lower_order_final=True)
            finally:
                builtins.print = quiet
            diff = (torch.tensor(rows) - x.reshape(-1, d)).abs().max().item()
            print(f"{d}-D, {variant}, order {order}, {steps} steps, {len(rows)} points: "
                  f"max |flowscore - reference| = {diff:.2e}")


if __name__ == "__main__":
    main()
