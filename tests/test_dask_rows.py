"""The data layer over a dask cluster (issue 16): formula metadata learned over all
partitions, per-partition Rows built and kept on the workers, and a map-reduce over them.

Every result is checked against the in-memory model built from the same frame
(``EMGLM.from_formula`` on ``ddf.compute()``) or against numpy on the whole data. The
cluster is a LocalCluster of two worker processes shared by the module's tests.
"""

import logging
import sys
import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.api as sm

dd = pytest.importorskip("dask.dataframe", reason="the dask data layer needs dask (pip install 'emglm[dask]')")
distributed = pytest.importorskip("distributed", reason="the dask data layer needs dask.distributed")
cloudpickle = pytest.importorskip("cloudpickle", reason="dask.distributed ships functions with cloudpickle")

from dask.sizeof import sizeof  # noqa: E402

from emglm import EMGLM, DroppedRowsWarning  # noqa: E402
from emglm.dask_formula import learn_design, partition_design  # noqa: E402
from emglm.dask_rows import DaskRows  # noqa: E402

# the functions handed to map/reduce below travel by value (the workers cannot import this file)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

FORMULA = "y ~ C(g, Treatment('b')) + center(x) + np.log(z) + bs(x, df=3)"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def frame(n=800, n_groups=200, seed=0):
    """Rows in groups of n / n_groups; the first quarter has no level 'c' (and no 'a')."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.uniform(0.5, 2.0, n),
                       "u": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n),
                       "id": np.repeat(np.arange(n_groups) * 7 + 3, n // n_groups),
                       "w": rng.integers(1, 4, n).astype(float), "e": rng.uniform(1.0, 3.0, n)})
    df.loc[: n // 4 - 1, "g"] = "b"
    df["y"] = 1.0 + df.x - 0.5 * (df.g == "a") + rng.normal(size=n)
    return df


def gathered(client, rows, fn):
    return client.gather(rows.map(fn))


def test_formula_metadata_is_learned_over_all_partitions(client):
    df = frame()
    ddf = dd.from_pandas(df, npartitions=4)
    first = ddf.get_partition(0).compute()
    assert set(first.g) == {"b"}  # a learner that looked at one partition would miss 'a' and 'c'
    kw = dict(fixed="~ standardize(u)", concomitant="~ g")
    rows = DaskRows.from_formula(FORMULA, ddf, **kw)
    model = EMGLM.from_formula(FORMULA, df, k=1, **kw)

    assert rows.exog_names == model.exog_names
    assert rows.fixed_names == model.fixed_names and rows.concomitant_names == model.concomitant_names
    X = np.vstack(gathered(client, rows, lambda r: r.X))
    np.testing.assert_allclose(X, model.exog, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.U)), model.fixed_exog, atol=1e-12)
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.Z)), model.concomitant_exog)
    np.testing.assert_array_equal(np.concatenate(gathered(client, rows, lambda r: r.y)), model.endog)
    # the centring is over all rows, not per partition
    col = model.exog_names.index("center(x)")
    np.testing.assert_allclose(X[:, col], df.x - df.x.mean(), atol=1e-12)

    # learned from the frame itself (no cluster state), the design rebuilds every partition alike
    design = learn_design(FORMULA, ddf, **kw)
    parts = [partition_design(design, ddf.get_partition(i).compute())["exog"] for i in range(4)]
    np.testing.assert_allclose(np.vstack(parts), model.exog, atol=1e-12)


def test_nested_transforms_declared_levels_and_pandas_categoricals(client):
    df = frame(seed=10)
    df["h"] = pd.Categorical(df.g.map({"a": "lo", "b": "hi", "c": "mid"}), categories=["lo", "mid", "hi"])
    df["flag"] = df.x > 0
    formula = "y ~ center(standardize(x)) + C(g, levels=['c', 'a', 'b']) + h + flag"
    ddf = dd.from_pandas(df, npartitions=4)
    rows = DaskRows.from_formula(formula, ddf)
    model = EMGLM.from_formula(formula, df, k=1)
    assert rows.exog_names == model.exog_names  # declared orders kept, not re-sorted
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.X)), model.exog, atol=1e-12)
    # an error on a worker reaches the client as patsy's own, with the formula position
    with pytest.raises(patsy.PatsyError, match=r"name 'nope' is not defined(.|\n)*y ~ nope"):
        learn_design("y ~ nope", ddf)


def test_reduce_adds_sums_on_the_workers_and_the_client_gets_only_sums(client, monkeypatch):
    df = frame(n=20000, n_groups=5000, seed=1)
    ddf = dd.from_pandas(df, npartitions=4)
    received = []
    real_gather = client._gather

    async def recording_gather(futures, *args, **kwargs):
        out = await real_gather(futures, *args, **kwargs)
        received.append(sizeof(out))
        return out

    monkeypatch.setattr(client, "_gather", recording_gather)
    rows = DaskRows.from_formula(FORMULA, ddf, weights="w", exposure="e")
    xtwx = rows.reduce(lambda r: r.X.T @ (r.w[:, None] * r.X))
    xtwy = rows.reduce(lambda r: r.X.T @ (r.w * (r.y - r.offset)))
    monkeypatch.undo()

    model = EMGLM.from_formula(FORMULA, df, k=1, weights="w", exposure="e")
    X, w = model.exog, model.freq_weights
    ref_xx = X.T @ (w[:, None] * X)
    ref_xy = X.T @ (w * (model.endog - model.offset))
    assert np.max(np.abs(xtwx - ref_xx)) <= 1e-10 * np.max(np.abs(ref_xx))
    assert np.max(np.abs(xtwy - ref_xy)) <= 1e-10 * np.max(np.abs(ref_xy))
    # what crossed to the client, construction included, is far smaller than one partition
    one_partition = df.iloc[: len(df) // 4].memory_usage(deep=True).sum()
    assert received and max(received) < one_partition / 20, (max(received), one_partition)
    assert sizeof(xtwx) == rows.p * rows.p * 8 + sizeof(np.zeros(0))
    assert (rows.n, rows.G, rows.npartitions, rows.p) == (len(df), len(df), 4, X.shape[1])


def test_dropped_rows_match_the_in_memory_model(client):
    df = frame(seed=2)
    df.loc[[5, 300], "y"] = np.nan          # the formula's rows
    df.loc[410, "z"] = 0.0                  # log(0) = -inf: a non-finite design value
    df.loc[[7, 650], "e"] = np.nan          # the offset
    ddf = dd.from_pandas(df, npartitions=4)
    with pytest.warns(DroppedRowsWarning, match="dropped 5 row"):
        rows = DaskRows.from_formula(FORMULA, ddf, offset="e")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = EMGLM.from_formula(FORMULA, df, k=1, offset="e")
    assert rows.n_dropped == model.n_dropped == 5
    assert rows.n == len(model.endog)
    np.testing.assert_array_equal(np.concatenate(gathered(client, rows, lambda r: r.offset)), model.offset)
    index = np.concatenate([rec["index"] for rec in client.gather(rows.records)])
    np.testing.assert_array_equal(index, np.asarray(model.row_index))


def test_groups_match_the_in_memory_unit_structure(client):
    df = frame(seed=3)
    df["zg"] = df.id.map(lambda g: np.sin(g))  # a group-level concomitant variable
    df.loc[200:399, "w"] = 0.0  # a partition with no weight is fine: only the total must be positive
    ddf = dd.from_pandas(df, npartitions=4)  # 200 rows per partition: groups of 4 sit whole
    rows = DaskRows.from_formula("y ~ x", ddf, groups="id", weights=ddf["w"], concomitant="~ zg")
    model = EMGLM.from_formula("y ~ x", df, k=1, groups="id", weights="w", concomitant="~ zg")
    mem = model.rows()
    assert rows.G == model.n_groups == 200 and rows.nobs == model.nobs
    tot = rows.reduce(lambda r: r.unit_sum(r.X * r.y[:, None]).T @ r.unit_sum(r.X))
    ref = mem.unit_sum(mem.X * mem.y[:, None]).T @ mem.unit_sum(mem.X)
    np.testing.assert_allclose(tot, ref, rtol=1e-12)
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.Z)), model.unit_concomitant())

    # the group as the index gives the same units
    by_index = DaskRows.from_formula("y ~ x", ddf.set_index("id"), groups="id")
    assert by_index.G == 200


def test_a_group_across_partitions_is_refused_with_the_fix(client):
    df = frame(seed=4).sample(frac=1.0, random_state=0).reset_index(drop=True)
    ddf = dd.from_pandas(df, npartitions=4)
    with pytest.raises(ValueError, match=r"column 'id'.*more than one partition.*shuffle\(on='id'\)"):
        DaskRows.from_formula("y ~ x", ddf, groups="id")
    rows = DaskRows.from_formula("y ~ x", ddf.shuffle(on="id"), groups="id")
    assert rows.G == 200 and rows.n == len(df)


def test_misaligned_series_are_refused(client):
    df = frame(seed=5)
    ddf = dd.from_pandas(df, npartitions=4)
    with pytest.raises(ValueError, match=r"weights: .*3 partitions but data has 4"):
        DaskRows.from_formula("y ~ x", ddf, weights=dd.from_pandas(df.w, npartitions=3))
    shifted = dd.from_pandas(pd.Series(df.w.to_numpy(), index=df.index + 1000), npartitions=4)
    with pytest.raises(ValueError, match=r"offset: .*divisions"):
        DaskRows.from_formula("y ~ x", ddf, offset=shifted)
    # unknown divisions cannot be compared: each partition's length is checked on its worker
    short = dd.from_pandas(df.w.iloc[:-8], npartitions=4).clear_divisions()
    with pytest.raises(ValueError, match=r"partition \d: weights: a partition of this dask Series has \d+ values"):
        DaskRows.from_formula("y ~ x", ddf.clear_divisions(), weights=short)
    with pytest.raises(TypeError, match="exposure: with a dask DataFrame"):
        DaskRows.from_formula("y ~ x", ddf, exposure=df.e)
    with pytest.raises(KeyError, match="groups: column 'nope'"):
        DaskRows.from_formula("y ~ x", ddf, groups="nope")


def test_unknown_category_at_prediction_time_names_the_column(client):
    df = frame(seed=6)
    design = learn_design(FORMULA, dd.from_pandas(df, npartitions=4))
    new = frame(n=40, n_groups=10, seed=7)
    new.loc[[3, 9], "g"] = "d"
    with pytest.raises(ValueError, match=r"column 'g'.*\['d'\] not seen"):
        partition_design(design, new)
    # a column named like the string inside Treatment('b') does not confuse the message
    with pytest.raises(ValueError, match=r"^column 'g' \(term \"C\(g, Treatment\('b'\)\)\"\)"):
        partition_design(design, new.assign(b=1.0))
    with pytest.raises(ValueError, match=r"partition \d: column 'g'.*\['d'\] not seen"):
        DaskRows.from_formula(FORMULA, dd.from_pandas(new, npartitions=2), design=design)
    # known levels only: the learned design (whole-frame mean, knots) is applied unchanged
    ok = new[new.g != "d"]
    rows = DaskRows.from_formula(FORMULA, dd.from_pandas(ok, npartitions=2), design=design)
    ref = EMGLM.from_formula(FORMULA, df, k=1).design.exog_matrix(ok)
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.X)), ref, atol=1e-12)


def test_sample_draws_whole_groups_uniformly(client):
    df = frame(seed=8)
    ddf = dd.from_pandas(df, npartitions=4).shuffle(on="id")  # partitions of unequal sizes
    rows = DaskRows.from_formula("y ~ x", ddf, groups="id")
    size = df.groupby("id").size()
    part_of = {}
    for i in range(4):
        for y in ddf.get_partition(i).compute().y:
            part_of[y] = i
    group_of = dict(zip(df.y, df.id))

    s = rows.sample(n=7, random_state=3)
    assert s.G == 7
    ids = pd.Series([group_of[y] for y in s.y])
    assert ids.nunique() == 7 and (ids.value_counts() == size[ids.unique()].to_numpy()).all()
    with pytest.raises(ValueError, match="n must be an integer between 1 and the number of units"):
        rows.sample(n=rows.G + 1)
    with pytest.raises(ValueError, match="exactly one of frac and n"):
        rows.sample(frac=0.1, n=3)
    with pytest.raises(TypeError, match="random_state"):
        rows.sample(n=3, random_state="x")
    same = rows.sample(n=7, random_state=3)
    np.testing.assert_array_equal(s.y, same.y)
    everything = rows.sample(frac=1.0, random_state=0)
    np.testing.assert_allclose(everything.X.T @ everything.X, rows.reduce(lambda r: r.X.T @ r.X))

    # each partition's share of the sampled units follows its share of the units
    counts = np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(40):
        drawn = rows.sample(n=5, random_state=rng)
        for g in np.unique(drawn.groups):
            counts[part_of[drawn.y[drawn.groups == g][0]]] += 1
    expected = 200 * np.asarray(rows.partition_G) / rows.G
    from scipy import stats

    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_empty_partitions_and_a_two_column_binomial_response(client):
    df = frame(seed=9).sort_values("x").reset_index(drop=True)
    df["s"] = np.random.default_rng(9).integers(0, 6, len(df)).astype(float)
    df["f"] = 5.0 - df.s
    ddf = dd.from_pandas(df, npartitions=4)
    kept = ddf[ddf.x > 0.8]  # the first partitions are left with no rows
    rows = DaskRows.from_formula("s + f ~ C(g) + center(x)", kept, family=sm.families.Binomial())
    assert rows.partition_n[0] == 0
    model = EMGLM.from_formula("s + f ~ C(g) + center(x)", df[df.x > 0.8], k=1, family=sm.families.Binomial())
    np.testing.assert_allclose(np.vstack(gathered(client, rows, lambda r: r.X)), model.exog, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate(gathered(client, rows, lambda r: r.trials)), model.trials)
    np.testing.assert_array_equal(np.concatenate(gathered(client, rows, lambda r: r.y)), model.endog)
    np.testing.assert_allclose(rows.reduce(lambda r: r.X.T @ r.X), model.exog.T @ model.exog, rtol=1e-12)
