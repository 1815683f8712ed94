"""The field's segmentations of authors, run on the same category counts as bayesseg's model.

Each baseline takes the ``(author, category)`` counts bayesseg fits and returns a
:class:`BaselineResult`: hard labels, membership probabilities where the method has them, and a
held-out log predictive score where it defines one. They are well-kept scikit-learn estimators;
this module only prepares their input the way earlier answers to the fashion-trends test did and
keeps their outputs comparable.

* :func:`kmeans_shares`: K-means on category shares weighted by an inverse document frequency
  (a category every author uses separates nobody), the common approach;
* :func:`hdbscan_shares`: HDBSCAN on Hellinger-transformed shares (density-based; finds its own
  number of clusters and leaves noise authors unlabelled, label -1);
* :func:`gmm_shares`: a Gaussian mixture on the principal components of the Hellinger shares;
* :func:`topic_model`: latent Dirichlet allocation or non-negative matrix factorisation of the
  counts, an author's segment being its dominant topic;
* :func:`rule_segments`: the taxonomy's rules alone, no learning: an author goes to the rule whose
  categories it over-uses most (a rules-only segmentation);
* :func:`seeded_classifier`: supervised learning from a few hand-labelled authors (seeds): a
  multinomial logistic regression of the segment on the Hellinger shares.

References
----------
MacQueen, J. (1967). Some methods for classification and analysis of multivariate observations.
*Proc. Fifth Berkeley Symposium* 1, 281-297.

Campello, R. J. G. B., Moulavi, D., & Sander, J. (2013). Density-based clustering based on
hierarchical density estimates. *PAKDD 2013*, 160-172. https://doi.org/10.1007/978-3-642-37456-2_14

Legendre, P., & Gallagher, E. D. (2001). Ecologically meaningful transformations for ordination
of species data. *Oecologia* 129, 271-280. https://doi.org/10.1007/s004420100716

Blei, D. M., Ng, A. Y., & Jordan, M. I. (2003). Latent Dirichlet allocation. *JMLR* 3, 993-1022.
https://doi.org/10.5555/944919.944937

Lee, D. D., & Seung, H. S. (1999). Learning the parts of objects by non-negative matrix
factorization. *Nature* 401, 788-791. https://doi.org/10.1038/44565
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayesseg.exceptions import InputError

__all__ = [
    "BaselineResult",
    "gmm_shares",
    "hdbscan_shares",
    "kmeans_shares",
    "rule_segments",
    "seeded_classifier",
    "topic_model",
]


@dataclass
class BaselineResult:
    """A baseline segmentation of authors.

    Attributes
    ----------
    name : str
        The method.
    labels : xarray.DataArray, dims (author,)
        Segment of each author (int; -1 for an author HDBSCAN leaves as noise).
    probability : xarray.DataArray or None, dims (author, segment)
        Membership probabilities, for methods that have them (mixture, topic model).
    heldout_score : float or None
        Mean held-out log predictive score per author of a method that defines one (the
        mixture's log density of transformed shares, LDA's approximate log-likelihood of counts:
        comparable within a method, not across methods), on the authors of ``heldout``.
    """

    name: str
    labels: xr.DataArray
    probability: xr.DataArray | None = None
    heldout_score: float | None = None


def _counts(counts: xr.DataArray) -> np.ndarray:
    if set(counts.dims) != {"author", "category"}:
        raise InputError(f"counts must have dims (author, category), got {counts.dims}")
    y = counts.transpose("author", "category").values.astype(float)
    if not np.all(np.isfinite(y)) or (y < 0).any():
        raise InputError("counts must be finite and non-negative")
    empty = np.flatnonzero(y.sum(axis=1) == 0)
    if empty.size:
        raise InputError(f"{empty.size} author(s) have no count, e.g. {counts['author'].values[empty[:3]].tolist()}")
    return y


def _shares(y: np.ndarray) -> np.ndarray:
    return y / y.sum(axis=1, keepdims=True)


def _labels(counts: xr.DataArray, labels: np.ndarray) -> xr.DataArray:
    return xr.DataArray(labels.astype(np.int64), dims=("author",), coords={"author": counts["author"].values})


def _proba(counts: xr.DataArray, p: np.ndarray) -> xr.DataArray:
    return xr.DataArray(
        p, dims=("author", "segment"), coords={"author": counts["author"].values, "segment": np.arange(p.shape[1])}
    )


def _split(n: int, heldout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 <= heldout < 1:
        raise InputError(f"heldout must be in [0, 1), got {heldout}")
    rng = np.random.default_rng(seed)
    test = rng.random(n) < heldout
    return ~test, test


def kmeans_shares(counts: xr.DataArray, k: int, *, seed: int = 0, n_init: int = 10) -> BaselineResult:
    r"""K-means on inverse-document-frequency-weighted category shares.

    Author *i*'s feature for category *c* is :math:`(y_{ic}/n_i)\log(N/N_c)`, with :math:`N_c`
    the authors using *c*; rows are then scaled to unit length so that prolific and occasional
    posters are compared on profile alone.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; every author with at least one.
    k : int
        Number of clusters.
    seed : int, default 0
        Random state of the initialisations.
    n_init : int, default 10
        Initialisations (the best inertia is kept).

    Returns
    -------
    BaselineResult
        Labels only (K-means has neither probabilities nor a likelihood).

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed or an author has none.

    References
    ----------
    MacQueen (1967).
    """
    from sklearn.cluster import KMeans

    y = _counts(counts)
    df = (y > 0).sum(axis=0)
    idf = np.log(len(y) / np.maximum(df, 1))
    z = _shares(y) * idf
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z)
    return BaselineResult("k-means (tf-idf shares)", _labels(counts, labels))


def hdbscan_shares(
    counts: xr.DataArray, *, min_cluster_size: int = 50, min_samples: int | None = None
) -> BaselineResult:
    """HDBSCAN on Hellinger-transformed shares (square roots of the shares).

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; every author with at least one.
    min_cluster_size : int, default 50
        Smallest group HDBSCAN calls a cluster.
    min_samples : int, optional
        Neighbourhood size of the core distance (default: `min_cluster_size`).

    Returns
    -------
    BaselineResult
        Labels; -1 marks authors left as noise (counted, not dropped).

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed or an author has none.

    References
    ----------
    Campello, Moulavi & Sander (2013), https://doi.org/10.1007/978-3-642-37456-2_14;
    Legendre & Gallagher (2001), https://doi.org/10.1007/s004420100716.
    """
    from sklearn.cluster import HDBSCAN

    z = np.sqrt(_shares(_counts(counts)))
    labels = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True).fit_predict(z)
    return BaselineResult("HDBSCAN (Hellinger shares)", _labels(counts, labels))


def gmm_shares(
    counts: xr.DataArray, k: int, *, n_components: int = 10, heldout: float = 0.2, seed: int = 0
) -> BaselineResult:
    """A Gaussian mixture on principal components of the Hellinger shares.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; every author with at least one.
    k : int
        Mixture components.
    n_components : int, default 10
        Principal components kept (full covariance in that space).
    heldout : float, default 0.2
        Share of authors held out for the log predictive score; the mixture is refitted on
        every author for the labels.
    seed : int, default 0
        Random state.

    Returns
    -------
    BaselineResult
        Labels, probabilities, and the held-out mean log density of the transformed shares.

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed or an author has none.
    """
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    z = np.sqrt(_shares(_counts(counts)))
    n_comp = min(n_components, z.shape[1] - 1, z.shape[0] - 1)
    train, test = _split(len(z), heldout, seed)
    score = None
    if test.any():
        pca = PCA(n_comp, random_state=seed).fit(z[train])
        gm = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=3).fit(pca.transform(z[train]))
        score = float(gm.score(pca.transform(z[test])))
    pcs = PCA(n_comp, random_state=seed).fit_transform(z)
    gm = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=3).fit(pcs)
    p = gm.predict_proba(pcs)
    return BaselineResult(
        "Gaussian mixture (Hellinger PCs)", _labels(counts, p.argmax(axis=1)), _proba(counts, p), score
    )


def topic_model(
    counts: xr.DataArray, k: int, *, method: str = "lda", heldout: float = 0.2, seed: int = 0, max_iter: int = 50
) -> BaselineResult:
    """A topic model of author label counts; an author's segment is its dominant topic.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; every author with at least one.
    k : int
        Topics.
    method : {"lda", "nmf"}, default "lda"
        Latent Dirichlet allocation (variational Bayes) or non-negative matrix factorisation
        (Kullback-Leibler loss).
    heldout : float, default 0.2
        LDA only: share of authors held out for the approximate log-likelihood per author.
    seed : int, default 0
        Random state.
    max_iter : int, default 50
        Passes over the data (LDA) or multiplicative updates / 10 (NMF).

    Returns
    -------
    BaselineResult
        Labels and topic proportions (normalised to sum to one per author).

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed, an author has none, or `method` is unknown.

    References
    ----------
    Blei, Ng & Jordan (2003), https://doi.org/10.5555/944919.944937;
    Lee & Seung (1999), https://doi.org/10.1038/44565.
    """
    from sklearn.decomposition import NMF, LatentDirichletAllocation

    y = _counts(counts)
    score = None
    if method == "lda":

        def make() -> LatentDirichletAllocation:
            return LatentDirichletAllocation(k, learning_method="batch", max_iter=max_iter, random_state=seed)

        train, test = _split(len(y), heldout, seed)
        if test.any():
            score = float(make().fit(y[train]).score(y[test]) / test.sum())
        theta = make().fit_transform(y)
        name = "LDA topics"
    elif method == "nmf":
        theta = NMF(
            k, beta_loss="kullback-leibler", solver="mu", max_iter=10 * max_iter, random_state=seed, init="nndsvda"
        ).fit_transform(y)
        name = "NMF topics"
    else:
        raise InputError(f"method must be 'lda' or 'nmf', got {method!r}")
    theta = theta / np.maximum(theta.sum(axis=1, keepdims=True), 1e-300)
    return BaselineResult(name, _labels(counts, theta.argmax(axis=1)), _proba(counts, theta), score)


def rule_segments(counts: xr.DataArray, rules: dict[str, list[str]], *, min_lift: float = 1.0) -> BaselineResult:
    r"""Segments from the taxonomy's rules alone: each author to the rule it over-uses most.

    Author *i*'s lift on rule *r* is its share of labels in the rule's categories over the
    population's share, :math:`(\sum_{c \in r} y_{ic} / n_i) / (\sum_{c \in r} Y_c / N)`; the author
    goes to the rule with the largest lift when it exceeds `min_lift`, and to "no rule" (the last
    label, ``len(rules)``) otherwise. No parameter is learnt: this is what a rules-only
    segmentation gives.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts; every author with at least one.
    rules : dict of str to list of str
        Rule name to its categories (:meth:`bayesseg.taxonomy.Taxonomy.anchors`).
    min_lift : float, default 1.0
        An author over-using no rule more than this gets no rule.

    Returns
    -------
    BaselineResult
        Labels ``0 .. len(rules) - 1`` in the order of `rules`, ``len(rules)`` for no rule.

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed, no rule is given, or a rule names no category of `counts`
        (the rule is named).
    """
    y = _counts(counts)
    if not rules:
        raise InputError("no rule given")
    cats = list(counts["category"].values)
    lift = np.empty((y.shape[0], len(rules)))
    shares = _shares(y)
    population = y.sum(axis=0) / y.sum()
    for r, (name, members) in enumerate(rules.items()):
        cols = [cats.index(c) for c in members if c in cats]
        if not cols:
            raise InputError(f"rule {name!r} names no category of the counts: {members}")
        lift[:, r] = shares[:, cols].sum(axis=1) / population[cols].sum()
    best = lift.argmax(axis=1)
    labels = np.where(lift.max(axis=1) > min_lift, best, len(rules))
    return BaselineResult("rules only", _labels(counts, labels))


def seeded_classifier(counts: xr.DataArray, seeds: xr.DataArray, *, seed: int = 0, c: float = 1.0) -> BaselineResult:
    """Supervised segments: a classifier trained on a few hand-labelled authors (seeds).

    A multinomial logistic regression (L2 penalty `c`) of the labelled segment on the Hellinger
    shares of the seeds' counts, applied to every author. What a team gets by labelling a sample
    by hand instead of modelling: it needs the labels, and it finds only the segments they name.

    Parameters
    ----------
    counts : xarray.DataArray, dims (author, category)
        Label counts of every author to classify.
    seeds : xarray.DataArray of int, dims (author,)
        The hand labels of some authors of `counts` (coordinate ``author``).
    seed : int, default 0
        Random state of the solver.
    c : float, default 1.0
        Inverse L2 regularisation strength.

    Returns
    -------
    BaselineResult
        Labels and membership probabilities of every author (the seeds' own included).

    Raises
    ------
    bayesseg.exceptions.InputError
        If counts are malformed, a seed is not an author of `counts`, or the seeds hold fewer than
        two segments.

    References
    ----------
    Hastie, T., Tibshirani, R. and Friedman, J. (2009). *The Elements of Statistical Learning*, 2nd
    ed., section 4.4. Springer. https://doi.org/10.1007/978-0-387-84858-7
    """
    from sklearn.linear_model import LogisticRegression

    y = _counts(counts)
    authors = list(counts["author"].values)
    missing = set(seeds["author"].values.tolist()) - set(authors)
    if missing:
        raise InputError(f"{len(missing)} seed(s) are not authors of the counts, e.g. {sorted(missing)[:3]}")
    labels = seeds.values.astype(np.int64)
    if np.unique(labels).size < 2:
        raise InputError("the seeds hold fewer than two segments: nothing to learn")
    x = np.sqrt(_shares(y))
    position = {a: i for i, a in enumerate(authors)}
    idx = [position[a] for a in seeds["author"].values]
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x[idx], labels)
    proba = clf.predict_proba(x)
    return BaselineResult(
        "seeded classifier", _labels(counts, clf.classes_[proba.argmax(axis=1)]), _proba(counts, proba)
    )
