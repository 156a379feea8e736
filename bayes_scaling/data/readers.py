"""Readers: turn the original files of a registered dataset into a table of runs in our columns.

A reader takes the verified files of one dataset (a mapping from the file keys of its registry entry
to paths) and returns a DataFrame with ``params``, ``tokens`` (and/or ``compute``), ``loss``,
``domain``, ``task`` and, for datasets with splits, ``split``. :func:`~bayes_scaling.data.runs.read_runs`
validates the result; readers only reshape, label and document the choices made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError

Reader = Callable[[Mapping[str, Path]], pd.DataFrame]

#: Suffixes of nominal model sizes such as "111M" or "1.3B".
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}

# --- Alabdulmohsin, Neyshabur, Zhai (2022): learning-curve benchmark --------------------------------

#: Parameter counts of the image-classification models (README of the google-research folder).
REVISITING_IC_PARAMS = {
    "ViT/S/16": 32e6, "ViT/B/16": 110e6, "BiT/50/1": 61e6,
    "BiT/101/3": 494e6, "MiX/B/16": 73e6, "MiX/L/16": 226e6,
}
#: All five NMT models are described as ~300M-parameter variants (Bansal et al. 2022).
REVISITING_NMT_PARAMS = 300e6
#: ``Training`` column of the original files: 1 = used for fitting, 0 = held out for extrapolation.
REVISITING_SPLITS = {1: "fit", 0: "extrapolate"}
#: File key in the registry -> our domain label.
REVISITING_DOMAINS = {"vision": "vision", "lang": "language"}

# --- Muennighoff et al. (2023): data-constrained scaling, via ColPret -------------------------------

#: Exact parameter counts of the nominal sizes (``PARAMS_MAP`` of huggingface/datablations
#: utils/parametric_fit.ipynb @13701315, the counts the authors fitted with).
DATABLATIONS_PARAMS = {"2.8B": 2.81e9, "4.2B": 4.2465e9, "8.7B": 8.67e9}

# --- Cerebras-GPT and Pythia Pile losses -------------------------------------------------------------

#: Model family in the 0-shot table -> (domain, task). Domains share a tokenizer and token budget rule:
#: Cerebras-GPT (GPT-2 BPE, 20 tokens per parameter) and Pythia (GPT-NeoX BPE, 300B tokens).
CEREBRAS_GROUPS = {
    "Cerebras": ("cerebras", "cerebras-sp"),
    "Cerebras muP": ("cerebras", "cerebras-mup"),
    "Pythia": ("pythia", "pythia-pile"),
    "Pythia deduped": ("pythia", "pythia-deduped"),
}
#: Every Pythia model saw 143,000 steps x 1,024 sequences x 2,048 tokens (Biderman et al. 2023).
PYTHIA_TOKENS = 143_000 * 1_024 * 2_048
#: The BNSL protocol for the 4-digit-addition curve: fit the first 14 points, score points 15-17.
BNSL_FIT_POINTS = 14
#: Open-Athena's experiment names -> the ladder names used as tasks and splits.
OPENATHENA_EXPERIMENTS = {
    "llama_3__raw_loss": "llama3",
    "marin_202603__comma__llama_2": "marin_comma",
    "marin_202603__dclm__llama_2": "marin_dclm",
    "marin_202603__nemotron__llama_2": "marin_nemotron",
}


def parse_count(label: str) -> float:
    """A count from a nominal label: ``"1.3B"`` -> 1.3e9, ``"262M"`` -> 2.62e8, ``"1.68e+07"`` -> 1.68e7.

    Raises
    ------
    DatasetError
        If the label is not a number with an optional K/M/B/T suffix.
    """
    text = str(label).strip()
    scale = _SCALE.get(text[-1:].upper(), 1.0)
    number = text[:-1] if scale != 1.0 else text
    try:
        return float(number) * scale
    except ValueError:
        raise DatasetError(f"cannot read a parameter count from the label {label!r}") from None


def slug(text: str) -> str:
    """A label part without awkward characters: runs of anything but ``[A-Za-z0-9_.+-]`` become ``-``."""
    return re.sub(r"[^\w.+-]+", "-", str(text)).strip("-")


def alabdulmohsin2022(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Both learning-curve files stacked: one task per curve, x = ``Seen Examples``.

    Exact duplicate rows (the repeated LM blocks) are dropped; each curve is sorted by ``tokens``.
    """
    frames = [_revisiting_file(pd.read_csv(paths[key]), domain) for key, domain in REVISITING_DOMAINS.items()]
    return pd.concat(frames, ignore_index=True)


def _revisiting_file(raw: pd.DataFrame, domain: str) -> pd.DataFrame:
    raw = raw.drop_duplicates(ignore_index=True)
    curve = raw["Domain"] + "/" + raw["Task"].map(slug) + "/" + raw["Model"].map(slug)
    if curve.nunique() != len(raw.groupby(["Domain", "Task", "Model"])):
        raise DatasetError(f"curve labels of the {domain} file are not unique after slugging")
    split = raw["Training"].map(REVISITING_SPLITS)
    if split.isna().any():
        raise DatasetError(f"'Training' must be 0 or 1, got {sorted(set(raw['Training']) - set(REVISITING_SPLITS))}")
    table = pd.DataFrame({
        "params": [_revisiting_params(sub, model) for sub, model in zip(raw["Domain"], raw["Model"])],
        "tokens": raw["Seen Examples"].astype(float),
        "loss": raw["Loss"].astype(float),
        "domain": domain,
        "task": curve,
        "split": split,
        "_curve": pd.factorize(curve)[0],
    })
    return table.sort_values(["_curve", "tokens"], kind="stable").drop(columns="_curve")


def _revisiting_params(subdomain: str, model: str) -> float:
    if subdomain == "IC":
        if model not in REVISITING_IC_PARAMS:
            raise DatasetError(f"no parameter count for the image model {model!r}")
        return REVISITING_IC_PARAMS[model]
    if subdomain == "NMT":
        return REVISITING_NMT_PARAMS
    return parse_count(model)  # LM: the count is the label; BB: "262M"


def datablations_final(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Final checkpoint of each repetition run: domain = corpus, task = corpus and epoch count.

    Within a task the three model sizes (2.8B/55B, 4.2B/84B, 8.7B/178B tokens) repeat their unique
    data the same number of times, so tasks differ by how data-constrained they are. unique_tokens
    is ColPret's tokens_per_epoch (the nominal budget over the nominal epochs), capped at the tokens
    seen.
    """
    raw = pd.read_csv(paths["losses"])
    keys = ["data", "num_params", "epochs"]
    final = raw.sort_values("token_num", kind="stable").groupby(keys, sort=False).tail(1)
    unknown = sorted(set(final["num_params"]) - set(DATABLATIONS_PARAMS))
    if unknown:
        raise DatasetError(f"no parameter count for the datablations sizes {unknown}")
    table = pd.DataFrame({
        "params": final["num_params"].map(DATABLATIONS_PARAMS),
        "tokens": final["token_num"].astype(float),
        "unique_tokens": final["tokens_per_epoch"].astype(float).clip(upper=final["token_num"].astype(float)),
        "loss": final["loss"].astype(float),
        "domain": final["data"],
        "task": final["data"] + "-" + final["epochs"].astype(str) + "ep",
        "_epochs": final["epochs"],
    })
    return table.sort_values(["domain", "_epochs", "params"]).drop(columns="_epochs").reset_index(drop=True)


def datablations_parametric(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The 296 points of the datablations parametric-fit notebook: N, D, unique tokens and final C4
    validation loss of runs from 7M to 8.7B parameters, one to hundreds of epochs. One domain and
    task (``c4``); repeated names (seeds, variants) stay as separate runs."""
    raw = pd.read_csv(paths["points"])
    return pd.DataFrame({"params": raw["params"].astype(float), "tokens": raw["tokens"].astype(float),
                         "unique_tokens": raw["unique_tokens"].astype(float), "loss": raw["val_loss"].astype(float),
                         "domain": "c4", "task": "c4"})


def cerebras_pile(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Pile test cross-entropy of the Cerebras-GPT and Pythia families, grouped by family.

    Tokens: Cerebras-GPT (standard and muP) from the Cerebras training table (20 tokens per
    parameter; the muP models have the same sizes and FLOPs); Pythia: 299,892,736,000 for every size.
    NeoX-20B and GPT-J-6B (one model each) and OPT (no Pile loss) are left out.
    """
    zero_shot = pd.read_csv(paths["zero_shot"])
    training = pd.read_csv(paths["training"])
    rows = zero_shot[zero_shot["family"].isin(CEREBRAS_GROUPS)].reset_index(drop=True)
    cerebras_tokens = dict(zip(training["size"], training["tokens"].astype(float)))
    is_cerebras = rows["family"].str.startswith("Cerebras")
    missing = sorted(set(rows.loc[is_cerebras, "size"]) - set(cerebras_tokens))
    if missing:
        raise DatasetError(f"the Cerebras training table has no token count for sizes {missing}")
    return pd.DataFrame({
        "params": rows["size"].map(parse_count),
        "tokens": rows["size"].map(cerebras_tokens).where(is_cerebras, float(PYTHIA_TOKENS)),
        "loss": rows["pile_test_xent"].astype(float),
        "domain": rows["family"].map(lambda family: CEREBRAS_GROUPS[family][0]),
        "task": rows["family"].map(lambda family: CEREBRAS_GROUPS[family][1]),
    })


def bnsl_addition(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The 4-digit-addition curve of Caballero et al.: x = training examples, one curve, no model size.

    No ``params``: the source gives no model size (the loader records 1 and marks it filled); ``split``
    is the BNSL protocol's: the first 14 points ``fit``, points 15-17 ``extrapolate``.
    """
    raw = pd.read_csv(paths["data"])
    order = np.argsort(raw["train_examples"].to_numpy(), kind="stable")
    raw = raw.iloc[order].reset_index(drop=True)
    return pd.DataFrame({
        "tokens": raw["train_examples"].astype(float), "loss": raw["loss"].astype(float),
        "domain": "arithmetic", "task": "4_digit_addition",
        "split": np.where(np.arange(len(raw)) < BNSL_FIT_POINTS, "fit", "extrapolate"),
    })


def colpret_cross_entropy(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The cross-entropy learning curves of ColPret (as packaged by NSL-PFN): domain = source group,
    task = curve, x = tokens seen; curves without a model size are left out."""
    raw = pd.read_csv(paths["data"])
    raw = raw[(raw["is_cross_entropy"] == 1) & raw["params"].notna() & (raw["tokens"] > 0)]
    table = pd.DataFrame({
        "params": raw["params"].astype(float), "tokens": raw["tokens"].astype(float),
        "loss": raw["loss"].astype(float), "domain": raw["task"], "task": raw["curve"],
    })
    return table.sort_values(["task", "tokens"], kind="stable").reset_index(drop=True)


def openathena_isoflops(paths: Mapping[str, Path]) -> pd.DataFrame:
    """IsoFLOP grids of Llama 3 and the three Marin ladders: task = ladder, split = ladder's short name,
    compute = the run's FLOPs as recorded."""
    raw = pd.read_csv(paths["data"])
    short = raw["experiment"].map(OPENATHENA_EXPERIMENTS)
    if short.isna().any():
        raise DatasetError(f"unknown experiments {sorted(set(raw['experiment'][short.isna()]))}")
    return pd.DataFrame({
        "params": raw["params"].astype(float), "tokens": raw["tokens"].astype(float),
        "compute": raw["compute_flops"].astype(float), "loss": raw["loss"].astype(float),
        "domain": "language", "task": short, "split": short,
    })


def cherti_imagenet(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Zero-shot ImageNet-1k top-1 error of the 29 OpenCLIP models trained on LAION:
    params = model size, tokens = image-text pairs seen; the OpenAI CLIP references are left out."""
    raw = pd.read_csv(paths["data"])
    rows = raw[(raw["task_type"] == "zeroshot_classification") & (raw["task"] == "imagenet1k")
               & (raw["is_openai_reference"] == 0)]
    return pd.DataFrame({
        "params": rows["params"].astype(float), "tokens": rows["samples_seen"].astype(float),
        "loss": rows["loss"].astype(float), "domain": "vision", "task": rows["upstream_dataset"],
    }).reset_index(drop=True)


def cherti_learning_curves(paths: Mapping[str, Path]) -> pd.DataFrame:
    """ImageNet-1k zero-shot top-1 error after each epoch of the 29 LAION runs: task = run,
    domain = LAION subset, tokens = image-text pairs seen, params = model size."""
    raw = pd.read_csv(paths["data"])
    rows = raw[raw["task_type"] == "zeroshot_classification_learning_curve"]
    table = pd.DataFrame({
        "params": rows["params"].astype(float), "tokens": rows["samples_seen"].astype(float),
        "loss": rows["loss"].astype(float), "domain": rows["upstream_dataset"], "task": rows["run_id"],
    })
    return table.sort_values(["task", "tokens"], kind="stable").reset_index(drop=True)


def cherti_schedules(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The learning-rate schedule of each of the 29 LAION runs: OpenCLIP's linear warm-up over
    ``warmup`` steps and cosine decay to zero at the end of the run; in image-text pairs, a step being
    one global batch (GPUs x local batch) and the run ``epochs`` x ``samples_per_epoch`` long."""
    raw = pd.read_csv(paths["runs"])
    batch = raw["gpus"].astype(float) * raw["local_bs"].astype(float)
    total = raw["epochs"].astype(float) * raw["samples_per_epoch"].astype(float)  # to 10 digits, as the curves' tidy
    return pd.DataFrame({"curve": raw["name"].astype(str), "schedule": "cosine",
                         "lr_warmup": raw["warmup"].astype(float) * batch, "lr_final": 0.0,
                         "total_tokens": total.map(lambda v: float(f"{v:.10g}"))})


def colpret_schedules(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The schedule of ColPret's seven GPT-3 curves, from Brown et al. (2020, Appendix B): a linear
    warm-up over the first 375M tokens, a cosine decay to 10% of the peak over 260B tokens, then 10%
    to the end of the 300B-token run. ColPret's other groups give no schedule."""
    raw = pd.read_csv(paths["data"])
    curves = sorted(set(raw.loc[raw["task"] == "gpt3_paper_figure_digitized", "curve"].astype(str)))
    return pd.DataFrame({"curve": curves, "schedule": "cosine", "lr_warmup": 3.75e8, "lr_final": 0.1,
                         "lr_decay_end": 2.6e11, "total_tokens": 3e11})


#: Schedule readers by the name a registry entry gives in ``schedules = "..."``.
SCHEDULE_READERS: dict[str, Reader] = {"cherti_schedules": cherti_schedules, "colpret_schedules": colpret_schedules}

#: Readers by the name a registry entry gives in ``reader = "..."``.
READERS: dict[str, Reader] = {
    "alabdulmohsin2022": alabdulmohsin2022,
    "datablations_final": datablations_final,
    "datablations_parametric": datablations_parametric,
    "cerebras_pile": cerebras_pile,
    "bnsl_addition": bnsl_addition,
    "colpret_cross_entropy": colpret_cross_entropy,
    "openathena_isoflops": openathena_isoflops,
    "cherti_imagenet": cherti_imagenet,
    "cherti_learning_curves": cherti_learning_curves,
}


def read(reader: str, paths: Mapping[str, Path]) -> pd.DataFrame:
    """Apply the reader named ``reader`` to the files ``paths``.

    Raises
    ------
    DatasetError
        If no reader has that name.
    """
    if reader not in READERS:
        raise DatasetError(f"unknown reader '{reader}'; known: {', '.join(sorted(READERS))}")
    return READERS[reader](paths)
