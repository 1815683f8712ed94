r"""Content for a segment: rank new posts by how typical their labels are of a segment.

Earlier answers ranked content by the KL divergence between a cluster's label distribution and a
post's. The model gives a principled replacement: the posterior predictive probability of the
post's category counts :math:`y` under segment *k*,

.. math::

    p(y \mid k, \text{data}) = \frac{1}{S}\sum_s \mathrm{DM}(y \mid \kappa_k^{(s)}\theta_k^{(s)}),

and, since a post with few labels is probable under every segment, the posterior probability
that an author of segment *k* made it, :math:`P(k \mid y) \propto w_k\, p(y \mid k)`, with
:math:`w_k` the segment's share of the fitted authors. Posts are ranked by :math:`P(k \mid y)`,
with the log lift :math:`\log p(y \mid k) - \log \sum_j w_j p(y \mid j)` beside it.

References
----------
Gelman, A., Carlin, J. B., Stern, H. S., Dunson, D. B., Vehtari, A., & Rubin, D. B. (2013).
*Bayesian Data Analysis*, 3rd ed., ch. 1.3 and 22 (posterior predictive distributions, mixture
classification). CRC Press. https://doi.org/10.1201/b16018
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from bayesseg.exceptions import InputError
from bayesseg.model.segment_model import SegmentModel
from bayesseg.taxonomy import Taxonomy

__all__ = ["post_counts", "rank_posts"]


def post_counts(labels: pd.DataFrame, taxonomy: Taxonomy) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Category counts of posts from their labels (one row per detected label).

    Parameters
    ----------
    labels : pandas.DataFrame
        Columns ``POST_ID``, ``TYPE`` and ``LABEL_NAME`` (any case); a label repeated in a post
        counts once, as in the warehouse aggregation.
    taxonomy : bayesseg.taxonomy.Taxonomy
        Maps labels to categories.

    Returns
    -------
    counts : pandas.DataFrame
        Index ``post``, one column per category of the taxonomy (int).
    excluded : pandas.DataFrame
        Columns ``post`` and ``reason``: posts none of whose labels has a category.
    ignored : pandas.DataFrame
        Columns ``TYPE``, ``LABEL_NAME``, ``rows`` (label rows, after de-duplication within a post)
        and ``reason`` (``unknown to the taxonomy`` or ``excluded by the taxonomy``): the labels
        that did not count, most frequent first; nothing is dropped silently.

    Raises
    ------
    bayesseg.exceptions.InputError
        If a column is missing.
    """
    frame = labels.rename(columns=str.upper)
    missing = {"POST_ID", "TYPE", "LABEL_NAME"} - set(frame.columns)
    if missing:
        raise InputError(f"posts file lacks column(s) {sorted(missing)}")
    frame = frame[["POST_ID", "TYPE", "LABEL_NAME"]].drop_duplicates()
    joined = frame.merge(taxonomy.labels[["TYPE", "LABEL_NAME", "CATEGORY"]].assign(KNOWN=True), how="left")
    lost = joined[joined["CATEGORY"].isna()]
    ignored = (
        lost.assign(reason=np.where(lost["KNOWN"].eq(True), "excluded by the taxonomy", "unknown to the taxonomy"))
        .groupby(["TYPE", "LABEL_NAME", "reason"], as_index=False)
        .size()
        .rename(columns={"size": "rows"})
        .sort_values(["rows", "TYPE", "LABEL_NAME"], ascending=[False, True, True], ignore_index=True)
    )[["TYPE", "LABEL_NAME", "rows", "reason"]]
    cats = taxonomy.category_names
    counts = (
        joined.dropna(subset=["CATEGORY"])
        .groupby(["POST_ID", "CATEGORY"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=cats, fill_value=0)
        .astype(np.int64)
    )
    counts.index.name = "post"
    no_category = sorted(set(frame["POST_ID"]) - set(counts.index))
    excluded = pd.DataFrame({"post": no_category, "reason": "no label with a category"})
    return counts, excluded, ignored


def rank_posts(model: SegmentModel, counts: pd.DataFrame, segment: str, max_draws: int = 200) -> pd.DataFrame:
    """Rank posts by the posterior probability that an author of `segment` made them.

    Parameters
    ----------
    model : bayesseg.model.SegmentModel
        Fitted (or loaded).
    counts : pandas.DataFrame
        Index: post ids; columns: the model's categories (:func:`post_counts`). Posts without
        any count must be removed first (see :func:`post_counts`'s ``excluded``).
    segment : str
        Name of the target segment.
    max_draws : int, default 200
        Thinned posterior draws averaged over.

    Returns
    -------
    pandas.DataFrame
        Index ``post``, sorted by ``prob_segment`` (descending): ``prob_segment`` (P(segment |
        labels)), ``log_predictive`` (log p(labels | segment), nats), ``log_lift`` (against the
        mixture of all segments), ``n_labels`` and ``rank`` (1 = most typical).

    Raises
    ------
    bayesseg.exceptions.InputError
        If the segment is unknown, the categories differ from the model's, or a post has no count.
    """
    names = model.segment_names
    if segment not in names:
        raise InputError(f"unknown segment {segment!r}; the model's segments are {names}")
    missing = [c for c in model.categories_ if c not in counts.columns]
    if missing:
        raise InputError(f"counts lack the model's categories {missing[:5]}{'...' if len(missing) > 5 else ''}")
    y = counts[list(model.categories_)].to_numpy(dtype=np.int64)
    empty = np.flatnonzero(y.sum(axis=1) == 0)
    if empty.size:
        raise InputError(f"{empty.size} post(s) have no category label, e.g. {counts.index[empty[:3]].tolist()}")
    log_pred = model.segment_log_predictive(y, max_draws)  # (N, K)
    mem = model.memberships()
    weights = mem["prob_mean"].mean("author").sel(segment=names).values
    log_mix = special.logsumexp(log_pred + np.log(weights)[None], axis=1)
    k = names.index(segment)
    out = pd.DataFrame(
        {
            "prob_segment": np.exp(np.log(weights[k]) + log_pred[:, k] - log_mix),
            "log_predictive": log_pred[:, k],
            "log_lift": log_pred[:, k] - log_mix,
            "n_labels": y.sum(axis=1),
        },
        index=pd.Index(counts.index, name="post"),
    ).sort_values("prob_segment", ascending=False, kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out
