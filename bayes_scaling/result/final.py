"""The final loss of runs still training, from a learning-curve fit of their checkpoints.

Each curve (a task of the fit) is extrapolated from its own posterior to its planned length: the
``total`` given for it, or its last checkpoint divided by the ``fraction_seen`` of training. The
predictive interval adds the fitted noise and, beyond the curve's own checkpoints, the spec's
structural error, measured against that curve's range (a curve is extrapolated from its own points).
A law that reads the learning-rate schedule (``curve_schedule``) evaluates each curve at its final
length under its own schedule, which the checkpoints carry (:mod:`bayes_scaling.data.schedules`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..data.groups import expand
from ..data.numbers import as_number
from ..data.schedules import columns_at
from ..errors import InputError, QueryError
from ..structural import decades_beyond, structural_extra

if TYPE_CHECKING:
    from ..data.checkpoints import Checkpoints
    from .fit import Fit

#: Attribute of a fit's tree (and saved file) holding the curves' learning-rate schedules, as JSON.
SCHEDULE_ATTR = "lr_schedules"
#: The root attribute that keeps the planned length of each curve a fit was made with (laws without a schedule).
PLANNED_ATTR = "planned_lengths"
SCHEDULE_NOTE = ("the prediction continues each curve as fitted; where a run's learning rate decays to its end "
                 "(cosine), the loss drops faster near the end than an intermediate checkpoint shows, so the "
                 "final loss may be lower than predicted")


def _per_curve(value: Any, curves: Sequence[str], name: str) -> pd.Series:
    if value is None:
        return pd.Series(np.nan, index=list(curves))
    if hasattr(value, "total"):  # Checkpoints
        value = value.total
    if isinstance(value, Mapping | pd.Series):
        try:
            series = pd.Series(dict(value) if isinstance(value, Mapping) else value, dtype=float)
        except (TypeError, ValueError):
            raise QueryError(f"{name} by curve must map each curve to a number") from None
        unknown = sorted(set(series.index) - set(curves))
        if unknown:
            raise QueryError(f"{name} names curves the fit does not have: {unknown[:3]}")
        return series.reindex(list(curves))
    number = as_number(value)
    if number is None:
        raise QueryError(f"{name} is one number for every curve or a mapping from curve to number, got {value!r}")
    return pd.Series(number, index=list(curves))


def _reads_schedule(law: Any) -> bool:
    """Whether a law reads the learning-rate schedule's columns (``curve_schedule``'s law does)."""
    return "lr_tokens" in law.inputs


def _stored(fit: Fit) -> pd.DataFrame | None:
    """The schedules (and planned lengths, ``total``) a schedule fit was made with, by curve."""
    text = fit.idata.attrs.get(SCHEDULE_ATTR)
    if text is None:
        return None
    stored = pd.read_json(io.StringIO(text), orient="split")
    return stored.assign(end=stored["end"].astype(float).fillna(np.inf))


def _schedule(fit: Fit, total: Any, schedule: Any, stored: pd.DataFrame | None,
              names: Sequence[str]) -> pd.DataFrame | None:
    """The curves' schedules where the fit's law reads them: ``schedule`` (Checkpoints or their table),
    else the Checkpoints given as ``total``, else those the fit was made with (``stored``)."""
    if not _reads_schedule(fit.law):
        return None
    if schedule is not None and not (hasattr(schedule, "runs") or isinstance(schedule, pd.DataFrame)):
        raise QueryError("schedule is the checkpoints (read_checkpoints) or their schedule table, got "
                         f"{type(schedule).__name__}")
    if schedule is None or hasattr(schedule, "runs"):  # a Checkpoints, or none given
        schedule = getattr(schedule if schedule is not None else total, "schedule", None)
    if schedule is None:
        schedule = stored
    if schedule is None:
        raise QueryError(f"the '{fit.law.name}' law predicts a run from its learning-rate schedule: predict from the "
                         "checkpoint table that gives it (in Python, predict_final(checkpoints))")
    missing = sorted(set(names) - set(schedule.index))
    if missing:
        raise QueryError(f"the checkpoints give no schedule for curve {missing[0]!r}")
    return schedule.loc[list(names)]


def final_points(fit: Fit, total: Any = None, fraction_seen: Any = None,
                 curves: Sequence[str] | None = None) -> pd.DataFrame:
    """Per curve: ``seen`` (last fitted checkpoint), ``final`` (planned length) and ``fraction_seen``."""
    other = [k for k in fit.law.inputs if k not in ("tokens", *fit.law.follows)]
    if "tokens" not in fit.law.inputs or any(k != "params" for k in other):
        raise QueryError(f"predict_final extrapolates learning curves in tokens seen (and the run's model size); the "
                         f"'{fit.law.name}' law reads {' and '.join(fit.law.inputs)}")
    known = list(fit.groups.tasks) if curves is None else _curve_names(curves)
    missing = sorted(set(known) - set(fit.groups.tasks))
    if missing:
        raise QueryError(f"the fit has no curve {missing[0]!r}")
    runs = fit.runs.table[fit.runs.table["task"].isin(known)]
    if "params" in fit.law.inputs and "params" in runs:
        sizes = runs.groupby("task")["params"].nunique()
        if (sizes > 1).any():
            c = sizes.index[sizes > 1][0]
            raise QueryError(f"curve {c!r} holds runs of {sizes[c]} model sizes: predict_final continues the learning "
                             "curve of one run; fit a checkpoint table with a 'curve' column (one run per curve)")
    seen = fit.runs.table.groupby("task")["tokens"].max().reindex(known)
    final = planned_lengths(seen, total, fraction_seen)
    return pd.DataFrame({"seen": seen, "final": final, "fraction_seen": seen / final})


def planned_lengths(seen: pd.Series, total: Any = None, fraction_seen: Any = None) -> pd.Series:
    """Each curve's planned length, by curve (the index of ``seen``, its last checkpoint): its ``total``
    where given, else ``seen / fraction_seen``; the fraction serves the curves without a total.

    Raises
    ------
    QueryError
        A fraction outside (0, 1), one that disagrees with every curve's total (or, given by curve,
        with that curve's), a length that is not finite or is below the last checkpoint, or a curve
        with neither.
    """
    known = list(seen.index)
    frac = _per_curve(fraction_seen, known, "fraction_seen")
    if fraction_seen is not None and not isinstance(fraction_seen, Mapping | pd.Series) and frac.isna().all():
        raise QueryError(f"fraction_seen must lie strictly between 0 and 1, got {fraction_seen!r}")  # NaN
    bad = frac.dropna()[(frac.dropna() <= 0) | (frac.dropna() >= 1)]
    if len(bad):
        raise QueryError(f"fraction_seen must lie strictly between 0 and 1, got {bad.iloc[0]:g} for curve {bad.index[0]!r}")
    given = _per_curve(total, known, "total")  # a curve's total wins; the fraction serves curves without one
    both = given.notna() & frac.notna() & ~np.isclose(seen / given, frac, rtol=1e-6)
    if both.any() and (given.notna().all() or isinstance(fraction_seen, Mapping | pd.Series)):
        c = both.index[both][0]
        raise QueryError(f"curve {c!r}: its planned length {given[c]:.4g} (so {seen[c] / given[c]:.3g} of it seen) and "
                         f"fraction_seen {frac[c]:.3g} disagree; give one of them")
    final = given.fillna(seen / frac)
    if (final.notna() & ~np.isfinite(final)).any():
        c = final.index[final.notna() & ~np.isfinite(final)][0]
        raise QueryError(f"curve {c!r}: its planned length is not a finite number")
    if final.isna().any():
        raise QueryError(f"curve {final.index[final.isna()][0]!r}: give its total length or the fraction of training seen")
    if (final < seen * (1 - 1e-12)).any():
        c = final.index[final < seen * (1 - 1e-12)][0]
        raise QueryError(f"curve {c!r}: the total length {final[c]:.4g} is below its last checkpoint {seen[c]:.4g}")
    return final


def _curve_names(curves: Any) -> list[str]:
    """Curves asked for: one name or a list of names, none empty."""
    if isinstance(curves, str):
        return [curves]
    try:
        names = [str(c) for c in curves]
    except TypeError:
        raise QueryError(f"curves is a curve name or a list of them, got {curves!r}") from None
    if not names:
        raise QueryError("curves is empty: name at least one curve (or leave it out for all)")
    return names


def check_checkpoints(checkpoints: Checkpoints, spec: Any) -> None:
    """Refuse a spec that reads what the checkpoint table does not give: the learning-rate schedule, or each
    run's model size."""
    law = spec.law_obj
    if _reads_schedule(law) and checkpoints.schedule is None:
        raise InputError(f"spec '{spec.name}' reads each run's learning-rate schedule: give the checkpoint table the "
                         "columns schedule (constant, cosine or linear) and total_tokens, and optionally lr_warmup, "
                         "lr_final, lr_decay_start and lr_decay_end")
    if "params" in law.inputs and "params" in checkpoints.runs.filled:
        raise InputError(f"spec '{spec.name}' reads each run's model size: give the checkpoint table a params column")
    if "params" in law.inputs:
        sizes = checkpoints.runs.table.groupby("task")["params"].nunique()
        if (sizes > 1).any():
            raise InputError(f"curve {sizes.index[sizes > 1][0]!r} holds {int(sizes.max())} values of params: a curve is "
                             "one run, of one model size")


def fit_checkpoints(checkpoints: Checkpoints, spec: str = "curve_power", **options: Any) -> Fit:
    """Fit a learning-curve spec to checkpoints (``options`` go to :func:`bayes_scaling.fit`).

    One curve alone has no family to pool with: its parameters, noise and pivot are then its own
    (the spec's pooling by curve becomes shared over the one curve).
    """
    from dataclasses import replace

    from ..spec import load_spec
    from .estimator import fit

    model = load_spec(spec) if isinstance(spec, str) else spec
    check_checkpoints(checkpoints, model)
    if len(checkpoints.seen) == 1:
        model = replace(model, pooling={k: "shared" for k in model.pooling}, noise_pooling="shared", pivot="global")
    result = fit(checkpoints.runs, model, **options)
    if _reads_schedule(model.law_obj):  # the schedules are kept with the fit, and in its saved file
        kept = checkpoints.schedule.assign(total=checkpoints.total.reindex(checkpoints.schedule.index))
        result.idata.attrs[SCHEDULE_ATTR] = kept.to_json(orient="split", double_precision=15)
    elif checkpoints.total.notna().any():  # the planned lengths, so a saved fit answers without them again
        result.idata.attrs[PLANNED_ATTR] = json.dumps({str(k): float(v) for k, v in checkpoints.total.dropna().items()})
    return result


def _check_schedule_lengths(fit: Fit, stored: pd.DataFrame, total: Any, fraction_seen: Any) -> None:
    """Refuse a total or fraction that moves the end of a run under its schedule (a run of another
    length would have had another schedule)."""
    names = list(stored.index)
    seen = fit.runs.table.groupby("task")["tokens"].max().reindex(names)
    frac = _per_curve(fraction_seen, names, "fraction_seen")
    asked = _per_curve(total, names, "total").fillna(seen / frac.where((frac > 0) & (frac < 1)))
    off = asked.notna() & stored["total"].notna() & ~np.isclose(asked, stored["total"], rtol=1e-6)
    if off.any():
        c = off.index[off][0]
        raise QueryError(f"curve {c!r} ends where its learning-rate schedule does ({stored['total'][c]:.4g}), not at "
                         f"{asked[c]:.4g}; a run of another length would have another schedule")


def predict_final(fit: Fit, total: Any = None, fraction_seen: Any = None, curves: Sequence[str] | None = None,
                  seed: int | None = None, schedule: Any = None) -> xr.Dataset:
    """Final loss of each curve: the law's (``loss_mean``) and a predictive draw (``loss_pred``), dim ``curve``.

    See :meth:`bayes_scaling.Fit.predict_final`.
    """
    stored = _stored(fit)
    if stored is not None and (total is not None or fraction_seen is not None):
        _check_schedule_lengths(fit, stored, total, fraction_seen)
    if stored is not None and total is None:  # the planned lengths it was made with
        total = stored["total"]
    if stored is None and total is None and fraction_seen is None and PLANNED_ATTR in fit.idata.attrs:
        total = json.loads(fit.idata.attrs[PLANNED_ATTR])
    points = final_points(fit, total, fraction_seen, curves)
    names = list(points.index)
    sampled = {k: (v.sel(task=names) if "task" in v.dims else v) for k, v in fit.sampled("task").items()}
    pivots = {k: (v.sel(task=names) if isinstance(v, xr.DataArray) else v) for k, v in fit.pivots_at("task").items()}
    table = pd.DataFrame({"task": names, "tokens": points["final"].to_numpy()})
    schedule = _schedule(fit, total, schedule, stored, names)
    if schedule is not None:
        table = table.assign(**columns_at(schedule, table["task"], table["tokens"].to_numpy()))
    if "params" in fit.law.inputs:
        table["params"] = fit.runs.table.groupby("task")["params"].first().reindex(names).to_numpy()
        table["compute"] = fit.runs.compute_factor * table["params"] * table["tokens"]
    logs = {k: xr.DataArray(np.log(table[k].to_numpy()), dims="task", coords={"task": names})
            for k in fit.law.inputs if k in table}
    mu = fit.law.log_loss(sampled, logs, pivots).transpose("chain", "draw", "task")
    sigma = expand(fit.posterior["sigma"], fit.spec.noise_pooling, "task", fit.groups)
    sigma = ((sigma.sel(task=names) if "task" in sigma.dims else sigma) + 0.0 * mu).transpose("chain", "draw", "task")
    from .fit import predictive_noise, query_seed

    rng = np.random.default_rng(fit.settings.seed if seed is None else query_seed(seed))
    nu = fit.posterior["nu"].values if fit.spec.likelihood == "student_t" else None
    if nu is not None and "task" in fit.posterior["nu"].dims:
        raise QueryError("predict_final needs one Student-t nu for all curves")
    pred = mu + sigma * xr.DataArray(predictive_noise(rng, mu.shape, nu), dims=mu.dims)
    extra = structural_extra(fit, table, "task")
    if extra is not None:
        pred = pred + extra.assign_coords(task=names) * xr.DataArray(rng.standard_normal(mu.shape), dims=mu.dims)
    beyond = decades_beyond(fit.runs.table, table, ("tokens",), per_task=True)
    ds = xr.Dataset({"loss_mean": np.exp(mu), "loss_pred": np.exp(pred)}).rename(task="curve")
    ds = ds.assign_coords(final=("curve", points["final"].to_numpy()), seen=("curve", points["seen"].to_numpy()),
                          fraction_seen=("curve", points["fraction_seen"].to_numpy()), beyond=("curve", beyond))
    far = [f"curve {c!r} is extrapolated {b:.2g} decades beyond its checkpoints" for c, b in zip(names, beyond, strict=True)
           if b > 0.5]
    known = schedule is not None
    ds.attrs.update(warnings=[*([] if known else [SCHEDULE_NOTE]), *far[:5]], schedule_known=known)
    return ds
