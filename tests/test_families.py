"""Other count families: each row's marginal likelihood against scipy, the Laplace integral against Monte Carlo."""

import numpy as np
import pytest
from scipy import special, stats

from bayesseg.dims import stack_sample_dims
from bayesseg.evaluation.families import (
    FAMILIES,
    compare_families,
    family_model,
    fit_family,
    logistic_normal_log_marginal,
    pointwise_log_likelihood,
)
from bayesseg.exceptions import InputError


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(11)
    profiles = rng.dirichlet(np.ones(6), size=2)
    return np.array([rng.multinomial(rng.integers(5, 40), rng.dirichlet(20 * profiles[i % 2])) for i in range(12)])


@pytest.fixture(scope="module")
def draws():
    rng = np.random.default_rng(3)
    s, k, c = 4, 2, 6
    return {
        "logit": rng.normal(0, 1, (s, k, c)),
        "weights": rng.dirichlet(np.ones(k), size=s),
        "log_concentration": rng.normal(2, 0.5, (s, k)),
        "log_mean": rng.normal(1, 0.2, s),
        "log_dispersion": rng.normal(0, 0.5, (s, k)),
        "latent_sd": rng.uniform(0.5, 1.5, (s, k)),
        "total_log_mean": rng.normal(3, 0.2, s),
        "total_log_dispersion": rng.normal(1, 0.3, s),
        "dispersion_ratio_sd": rng.uniform(0.3, 1.2, s),
        "dispersion_ratio": rng.normal(0, 1, (s, c - 1)),
    }


def _totals_term(y, d, s):
    m, phi = np.exp(d["total_log_mean"][s]), np.exp(d["total_log_dispersion"][s])
    return stats.nbinom.logpmf(y.sum(1), phi, phi / (phi + m))


def _mix(d, s, comp):
    return special.logsumexp(np.log(d["weights"][s])[None, :] + comp, axis=1)


def test_each_family_is_the_mixture_of_scipy_pmfs(table, draws):
    y, d = table, draws
    n = y.sum(1)
    out = {family: pointwise_log_likelihood(y, family, d) for family in FAMILIES[:3]}
    for s in range(4):
        p = special.softmax(d["logit"][s], axis=-1)
        kappa = np.exp(d["log_concentration"][s])
        dm = np.column_stack(
            [[stats.dirichlet_multinomial.logpmf(row, kappa[k] * p[k], row.sum()) for row in y] for k in range(2)]
        )
        mult = np.column_stack([stats.multinomial.logpmf(y, n, p[k]) for k in range(2)])
        mean = np.exp(d["log_mean"][s] + d["logit"][s])
        phi = np.exp(d["log_dispersion"][s])
        nb = np.column_stack([stats.nbinom.logpmf(y, phi[k], phi[k] / (phi[k] + mean[k])).sum(1) for k in range(2)])
        np.testing.assert_allclose(out["dirichlet_multinomial"][s], _mix(d, s, dm) + _totals_term(y, d, s), rtol=1e-10)
        np.testing.assert_allclose(out["multinomial"][s], _mix(d, s, mult) + _totals_term(y, d, s), rtol=1e-10)
        np.testing.assert_allclose(out["negative_binomial"][s], _mix(d, s, nb), rtol=1e-10)


def _gdm_by_scipy(y, p, kappa, tau):
    """Each row's generalized Dirichlet-multinomial log-pmf as a chain of scipy's beta-binomials."""
    out = np.zeros(len(y))
    for c in range(y.shape[1] - 1):
        a, b = kappa * np.exp(tau[c]) * p[c], kappa * np.exp(tau[c]) * p[c + 1 :].sum()
        out += stats.betabinom.logpmf(y[:, c], y[:, c:].sum(1), a, b)
    return out


def test_the_generalized_dirichlet_multinomial_is_a_mixture_of_beta_binomial_chains(table, draws):
    y, d = table, draws
    out = pointwise_log_likelihood(y, "generalized_dirichlet_multinomial", d)
    for s in range(4):
        p = special.softmax(d["logit"][s], axis=-1)
        kappa = np.exp(d["log_concentration"][s])
        tau = d["dispersion_ratio_sd"][s] * d["dispersion_ratio"][s]
        gdm = np.column_stack([_gdm_by_scipy(y, p[k], kappa[k], tau) for k in range(2)])
        np.testing.assert_allclose(out[s], _mix(d, s, gdm) + _totals_term(y, d, s), rtol=1e-10)


def test_the_generalized_dirichlet_multinomial_without_dispersion_ratios_is_the_dirichlet_multinomial(table, draws):
    """The family nests the Dirichlet-multinomial (τ = 0), whatever the column order."""
    flat = {**draws, "dispersion_ratio_sd": np.zeros(4)}
    dm = pointwise_log_likelihood(table, "dirichlet_multinomial", flat)
    np.testing.assert_allclose(
        pointwise_log_likelihood(table, "generalized_dirichlet_multinomial", flat), dm, rtol=1e-10
    )
    order = np.array([3, 0, 5, 1, 4, 2])
    turned = {**flat, "logit": flat["logit"][..., order]}
    np.testing.assert_allclose(
        pointwise_log_likelihood(table[:, order], "generalized_dirichlet_multinomial", turned), dm, rtol=1e-10
    )
    # with ratios, the order matters
    moved = pointwise_log_likelihood(
        table[:, order], "generalized_dirichlet_multinomial", {**draws, "logit": turned["logit"]}
    )
    assert not np.allclose(moved, pointwise_log_likelihood(table, "generalized_dirichlet_multinomial", draws))


def test_a_fit_scores_its_rows_under_its_kept_draws(table):
    tree = fit_family(table, "generalized_dirichlet_multinomial", 2, {"draws": 40, "tune": 40, "loglik_draws": 20})
    posterior = tree["posterior"].to_dataset()
    assert posterior.sizes["chain"] * posterior.sizes["draw"] == 20
    assert posterior["dispersion_ratio"].dims == ("chain", "draw", "node")
    assert posterior["logit"].shape[-2:] == (2, table.shape[1])
    flat = {name: stack_sample_dims(posterior[name]).values for name in posterior.data_vars}
    expected = pointwise_log_likelihood(table, "generalized_dirichlet_multinomial", flat)
    np.testing.assert_allclose(stack_sample_dims(tree["log_likelihood"]["y"]).values, expected)


def test_laplace_integral_against_monte_carlo():
    rng = np.random.default_rng(5)
    y = np.array([[12, 3, 0], [30, 25, 5], [1, 0, 2]])
    mu, sd = np.array([0.5, 0.0, -0.5]), 0.8
    lam = rng.normal(mu, sd, (400_000, 3))
    log_p = lam - special.logsumexp(lam, axis=1, keepdims=True)
    coef = special.gammaln(y.sum(1) + 1) - special.gammaln(y + 1).sum(1)
    mc = special.logsumexp(log_p @ y.T, axis=0) - np.log(len(lam)) + coef
    laplace = logistic_normal_log_marginal(y, mu, sd)
    # Laplace's error shrinks with the counts; a few hundredths of a nat at these totals
    np.testing.assert_allclose(laplace, mc, atol=0.08)
    assert abs(laplace[1] - mc[1]) < 0.03
    # a draws axis broadcasts: the same rows under three (mean, sd)
    both = logistic_normal_log_marginal(y, np.stack([mu, mu + 1.0, mu[::-1]]), np.array([sd, sd, sd]))
    assert both.shape == (3, 3)
    np.testing.assert_allclose(both[0], laplace)
    # a constant added to every mean logit moves λ alike and softmax not at all (isotropic prior);
    # a different profile changes the marginal
    np.testing.assert_allclose(both[1], laplace, atol=1e-9)
    assert not np.allclose(both[2], laplace)


@pytest.mark.parametrize(
    "family", ["dirichlet_multinomial", "multinomial", "negative_binomial", "generalized_dirichlet_multinomial"]
)
def test_the_model_scores_what_the_scorer_scores(table, family):
    """The PyMC model's likelihood terms equal the NumPy scorer's sum, less the constants it drops."""
    y = table
    model = family_model(y, family, 2)
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point = {name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in point.items()}
    names = ["weights", *_scalars(model)]
    outs = [model["y"], *([model["totals"]] if family != "negative_binomial" else [])]
    logit = model["population_logit"][None, :] + model["deviation_sd"] * model["deviation"]
    fn = model.compile_fn([*outs, logit, *[model[n] for n in names]], inputs=model.value_vars, on_unused_input="ignore")
    values = fn(point)
    terms = values[: len(outs)]
    extra = values[len(outs) + 1 :]
    d = {"logit": values[len(outs)][None]} | {n: np.asarray(v)[None] for n, v in zip(names, extra, strict=True)}
    score = pointwise_log_likelihood(y, family, d)[0].sum()
    dropped = 0.0
    if family != "negative_binomial":  # the multinomial coefficients are constants the model leaves out
        dropped = (special.gammaln(y.sum(1) + 1) - special.gammaln(y + 1).sum(1)).sum()
    np.testing.assert_allclose(score, sum(terms) + dropped, rtol=1e-9)


def _scalars(model):
    return [
        name
        for name in (
            "log_concentration",
            "log_mean",
            "log_dispersion",
            "dispersion_ratio_sd",
            "dispersion_ratio",
            "total_log_mean",
            "total_log_dispersion",
        )
        if name in model.named_vars
    ]


def test_overdispersed_counts_prefer_the_dirichlet_multinomial():
    """Recovery: one Dirichlet-multinomial population; its family beats the multinomial by many dse."""
    rng = np.random.default_rng(21)
    p = rng.dirichlet(np.ones(8))
    y = np.array([rng.multinomial(rng.integers(30, 90), rng.dirichlet(5 * p)) for _ in range(80)])
    table = compare_families(
        y, ["dirichlet_multinomial", "multinomial"], [1], {"draws": 200, "tune": 200, "random_seed": 2}
    )
    assert table["family"].iloc[0] == "dirichlet_multinomial"
    assert table["elpd_diff"].iloc[1] > 4 * table["dse"].iloc[1]
    assert list(table.columns[:4]) == ["family", "k", "elpd", "se"]
    assert (table["rhat_loglik"] < 1.05).all()


def _gdm_rows(rng, p, kappa, tau, n_rows):
    """Rows drawn from a generalized Dirichlet-multinomial: a beta-binomial per category of what is left."""
    rows = []
    for total in rng.integers(40, 120, size=n_rows):
        row, left = np.zeros(len(p), dtype=int), total
        for c in range(len(p) - 1):
            a, b = kappa * np.exp(tau[c]) * p[c], kappa * np.exp(tau[c]) * p[c + 1 :].sum()
            row[c] = rng.binomial(left, rng.beta(a, b))
            left -= row[c]
        row[-1] = left
        rows.append(row)
    # shuffled: compare_families takes the columns largest total first, not in the order that drew them
    return np.array(rows)[:, np.argsort(rng.random(len(p)))]


@pytest.mark.parametrize("dispersed", [True, False])
def test_categories_of_their_own_dispersion_prefer_the_generalized_dirichlet_multinomial(dispersed):
    """Recovery: with unequal dispersions (τ known) the family beats the DM by many dse; with none (DM data), not."""
    rng = np.random.default_rng(23)
    p, kappa = rng.dirichlet(2 * np.ones(8)), 15.0
    # a category varies e^τ times less (τ > 0) or more (τ < 0) than the DM allows
    tau = np.array([2.0, -1.5, 1.5, -1.0, 0.0, 2.0, -2.0]) if dispersed else np.zeros(7)
    y = _gdm_rows(rng, p, kappa, tau, 120)
    table = compare_families(
        y,
        ["dirichlet_multinomial", "generalized_dirichlet_multinomial"],
        [1],
        {"draws": 200, "tune": 300, "random_seed": 4},
    ).set_index("family")
    gdm, dm = table.loc["generalized_dirichlet_multinomial"], table.loc["dirichlet_multinomial"]
    if dispersed:
        assert dm["elpd_diff"] > 4 * dm["dse"]
    else:  # 1.1 nats ahead at 0.6 dse with this seed: the extra parameters buy nothing on DM data
        assert gdm["elpd"] - dm["elpd"] < 2 * max(dm["dse"], gdm["dse"])
    assert (table["rhat_loglik"] < 1.05).all()


def test_bad_input_is_named(table):
    with pytest.raises(InputError, match="family must be one of"):
        family_model(table, "poisson", 2)
    bad = table.astype(float).copy()
    bad[3, 2] = -1
    with pytest.raises(InputError, match="row 3, column 2"):
        family_model(bad, "multinomial", 2)
    zero = table.copy()
    zero[5] = 0
    with pytest.raises(InputError, match="row 5 is all zeros"):
        compare_families(zero, ["multinomial"], [1])
    with pytest.raises(InputError, match="n_segments must be at least 1"):
        family_model(table, "multinomial", 0)
    # checked before any fit: a bad family or K late in the lists fails at once
    with pytest.raises(InputError, match="family must be one of"):
        compare_families(table, ["multinomial", "poisson"], [1])
    with pytest.raises(InputError, match="n_segments must be at least 1"):
        compare_families(table, ["multinomial"], [1, 0])
