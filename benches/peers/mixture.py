"""The Gaussian-mixture target of the peers in PyTorch: a SPEC.json read into tensors, the
VP SDE's marginal (beta 0.1 -> 20), and the closed-form log-density and score of the perturbed
mixture p_t = sum_k w_k N(alpha_t mu_k, alpha_t^2 Sigma_k + sigma_t^2 I)."""
import json

import torch

BETA_MIN, BETA_MAX = 0.1, 20.0


def load(path, dtype):
    spec = json.load(open(path))
    w = torch.tensor(spec["weights"], dtype=dtype)
    mu = torch.tensor(spec["means"], dtype=dtype)
    cov = torch.tensor(spec["covariances"], dtype=dtype)
    return w / w.sum(), mu, cov


def marginal(t):
    """(alpha_t, sigma_t) of the VP SDE; `t` a tensor (any shape)."""
    log_alpha = -0.25 * t ** 2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN
    return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2 * log_alpha))


def beta(t):
    return BETA_MIN + t * (BETA_MAX - BETA_MIN)


def components(x, t, w, mu, cov):
    """Per sample and component: log(w_k N(x; m_k, C_k)) and P_k (x - m_k), at one time t."""
    alpha, sigma = marginal(t)
    k, d = mu.shape
    cov_t = alpha ** 2 * cov + sigma ** 2 * torch.eye(d, dtype=x.dtype)   # K x D x D
    prec = torch.linalg.inv(cov_t)                                         # K x D x D
    m = alpha * mu                                                         # K x D
    # P_k (x - m_k) for every k as one GEMM: x (N x D) by the stacked P_k (K D x D).
    b = torch.einsum("kij,kj->ki", prec, m)
    pd = (x @ prec.reshape(k * d, d).T).reshape(-1, k, d) - b              # N x K x D
    diff = x[:, None, :] - m[None, :, :]
    logn = -0.5 * (torch.logdet(cov_t)[None, :] + (diff * pd).sum(-1)
                   + d * torch.log(torch.tensor(2 * torch.pi, dtype=x.dtype)))
    return torch.log(w)[None, :] + logn, pd


def log_density(x, t, w, mu, cov):
    logp, _ = components(x, t, w, mu, cov)
    return torch.logsumexp(logp, dim=1)


def score(x, t, w, mu, cov):
    logp, pd = components(x, t, w, mu, cov)
    r = torch.softmax(logp, dim=1)
    return -(r[:, :, None] * pd).sum(1)


def standardised(w, mu, cov):
    """The mixture in standard coordinates z = L^-1 (x - m) (m, L L^T its overall mean and
    covariance), as `flowscore sample` and `loglik` compute: (w, mu_z, cov_z, m, L)."""
    m = (w[:, None] * mu).sum(0)
    second = (w[:, None, None] * (cov + mu[:, :, None] * mu[:, None, :])).sum(0)
    big = second - m[:, None] * m[None, :]
    chol = torch.linalg.cholesky(big)
    inv = torch.linalg.inv(chol)
    mu_z = (mu - m) @ inv.T
    cov_z = inv @ cov @ inv.T
    return w, mu_z, cov_z, m, chol
