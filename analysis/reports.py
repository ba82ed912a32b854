"""Tables in the papers' forms, as CSV, Markdown and LaTeX.

- gaze: per-method mean +- SD of each metric (the JEI 2021 review's Table 1) and paired
  Wilcoxon signed-rank tests between methods on the same images, Holm-corrected per metric.
- simulatability: the PV paper's Table 1 (arm x subset, mean (+-SE) in percent, chance line)
  and its Mann-Whitney tests, written with the histograms by `write_simulatability_report`.

Every file is written to a temporary name in the target folder and renamed into place.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis import CONTROL_TECHNIQUE, gaze_figures, simulatability
from analysis import questionnaire as questionnaire_summary
from analysis.errors import AnalysisError, MissingColumnsError

# ---------------------------------------------------------------- gaze comparison


def _metric_columns(scores: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    for column in ("method", "image"):
        if column not in scores.columns:
            raise MissingColumnsError(f"the scores frame lacks column {column!r}")
    metrics = list(metrics) if metrics is not None else [c for c in scores.columns if c not in ("method", "image")]
    missing = [m for m in metrics if m not in scores.columns]
    if missing or not metrics:
        raise MissingColumnsError(f"the scores frame lacks metric column(s) {missing or 'any'}")
    return metrics


def gaze_table(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per method: n images and mean, SD (ddof=1) of each metric, NaN scores left out.

    scores: one row per method and image, columns method, image and one per metric.
    Columns out: method, then `<metric>_n`, `<metric>_mean`, `<metric>_sd` per metric.
    """
    metrics = _metric_columns(scores, metrics)
    grouped = scores.groupby("method", sort=False)
    parts = {}
    for metric in metrics:
        parts[f"{metric}_n"] = grouped[metric].count()
        parts[f"{metric}_mean"] = grouped[metric].mean()
        parts[f"{metric}_sd"] = grouped[metric].std(ddof=1)
    return pd.DataFrame(parts).reset_index()


MIN_PAIRED_N = 6  # below 6 images the two-sided signed-rank test cannot reach p < 0.05 at all
PAIRED_COLUMNS = ["metric", "method_a", "method_b", "n", "median_diff", "effect", "statistic", "pvalue",
                  "pvalue_holm", "reject", "note"]


def paired_tests(scores: pd.DataFrame, metrics: Sequence[str] | None = None, alpha: float = 0.05,
                 min_n: int = MIN_PAIRED_N) -> pd.DataFrame:
    """Wilcoxon signed-rank test for each metric and pair of methods, on images both scored.

    Two-sided, scipy's default (exact for small n without ties, else normal approximation); only
    pairs with at least `min_n` images are tested, their p-values Holm-corrected over the tested
    pairs of each metric (statsmodels). effect: matched-pairs rank-biserial correlation
    (T+ - T-) / (T+ + T-) over the nonzero differences a - b, in [-1, 1]. note says why a pair
    was not tested. Columns: PAIRED_COLUMNS.
    """
    metrics = _metric_columns(scores, metrics)
    if scores.duplicated(["method", "image"]).any():
        raise AnalysisError("the scores frame has more than one row for a method and image")
    methods = list(dict.fromkeys(scores["method"]))
    rows = []
    for metric in metrics:
        wide = scores.pivot(index="image", columns="method", values=metric)
        family = []
        for first, second in itertools.combinations(methods, 2):
            pair = wide[[first, second]].dropna()
            difference = (pair[first] - pair[second]).to_numpy()
            row = {"metric": metric, "method_a": first, "method_b": second, "n": len(pair),
                   "median_diff": float(np.median(difference)) if len(pair) else np.nan,
                   "effect": _rank_biserial(difference), "statistic": np.nan, "pvalue": np.nan,
                   "pvalue_holm": np.nan, "reject": np.nan, "note": ""}
            if len(pair) < min_n:
                row["note"] = f"not tested: {len(pair)} image(s) scored by both, fewer than {min_n}"
            elif not difference.any():
                row["note"] = "not tested: every difference is 0"
            else:
                result = stats.wilcoxon(pair[first], pair[second])
                row["statistic"], row["pvalue"] = float(result.statistic), float(result.pvalue)
            family.append(row)
        tested = [row for row in family if not np.isnan(row["pvalue"])]
        if tested:
            pvalues = [row["pvalue"] for row in tested]
            reject, corrected, _, _ = multipletests(pvalues, alpha=alpha, method="holm")
            for row, flag, value in zip(tested, reject, corrected):
                row["pvalue_holm"], row["reject"] = float(value), bool(flag)
        rows.extend(family)
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _rank_biserial(difference: np.ndarray) -> float:
    """(T+ - T-) / (T+ + T-) of the signed ranks of the nonzero differences; NaN when there are none."""
    nonzero = difference[difference != 0]
    if nonzero.size == 0:
        return np.nan
    ranks = stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def format_gaze_table(table: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The review's format: one row per method, one column per metric, "0.5857 ± 0.104 (n=3)".

    Every cell names the number of images its metric was scored on (NSS and the AUCs need
    fixation points, the inter-observer row observers); column n is the method's largest count."""
    formatted = pd.DataFrame({"Method": table["method"]})
    for metric in metrics:
        cells = []
        for mean, sd, n in zip(table[f"{metric}_mean"], table[f"{metric}_sd"], table[f"{metric}_n"]):
            if n == 0:
                cells.append("n/a (n=0)")
            else:
                cells.append(f"{mean:.4f} ± {'n/a' if np.isnan(sd) else f'{sd:.3f}'} (n={n})")
        formatted[metric.upper()] = cells
    formatted["n"] = table[[f"{metric}_n" for metric in metrics]].max(axis=1).to_numpy()
    return formatted


# ---------------------------------------------------------------- simulatability


@dataclass(frozen=True)
class SimulatabilityReport:
    """The numeric tables of a survey: Table 1 (arm x subset), the Mann-Whitney tests, the
    trial-level logistic mixed model beside them (empty with `mixed_note` saying why when it
    cannot be fitted), the "can't tell" rates, per-question accuracies and the participation summary."""

    table: pd.DataFrame
    tests: pd.DataFrame
    mixed: pd.DataFrame
    mixed_note: str
    cant_tell: pd.DataFrame
    questions: pd.DataFrame
    participation: pd.DataFrame
    accuracies: pd.DataFrame


def default_comparisons(accuracies: pd.DataFrame) -> list[tuple[str, str, dict[str, str] | None]]:
    """Which arms to compare, as (first, second, alternatives) triples.

    First each control arm (technique CONTROL_TECHNIQUE) vs each explained arm, control first and
    one-sided (CONTROL_ALTERNATIVES: the explained arm is more accurate); then the explained arms
    among themselves: the paper's one-sided tests when they are exactly one Grad-CAM arm and one
    PV arm (Grad-CAM first), otherwise every pair, two-sided (control arms among themselves too).
    """
    techniques = accuracies.drop_duplicates("arm").set_index("arm")["technique"]
    is_control = techniques == CONTROL_TECHNIQUE
    controls, explained = sorted(techniques.index[is_control]), sorted(techniques.index[~is_control])
    pairs = [(control, arm, simulatability.CONTROL_ALTERNATIVES) for control in controls for arm in explained]
    gradcam, pv = techniques[techniques == "gradcam"], techniques[techniques == "pv"]
    if len(explained) == 2 and len(gradcam) == 1 and len(pv) == 1:
        pairs.append((gradcam.index[0], pv.index[0], simulatability.PAPER_ALTERNATIVES))
    else:
        pairs += [(a, b, None) for a, b in itertools.combinations(explained, 2)]
    return pairs + [(a, b, None) for a, b in itertools.combinations(controls, 2)]


def mixed_model_table(model: simulatability.MixedModel) -> pd.DataFrame:
    """The mixed model as rows: term, estimate (log-odds), sd, z; then one `sd(<group>)` row per
    random effect (its posterior mean SD in log-odds, sd and z empty)."""
    random = pd.DataFrame({"term": [f"sd({name})" for name in model.random_sd],
                           "estimate": list(model.random_sd.values()), "sd": np.nan, "z": np.nan})
    return pd.concat([model.fixed, random], ignore_index=True)


def simulatability_report(
    trials: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    comparisons: list[tuple[str, str, dict[str, str] | None]] | None = None,
    method: str = "auto",
) -> SimulatabilityReport:
    """All survey tables; only completed participants count when `participants` is given.

    method: how the Mann-Whitney p-values are computed (`simulatability.mann_whitney`); the
    PV paper's convention is method="asymptotic" with the default comparisons.
    """
    accuracies = simulatability.participant_accuracies(trials, participants)
    if accuracies.empty:
        raise AnalysisError("no answered questions to analyse (no completed participant yet?)")
    comparisons = default_comparisons(accuracies) if comparisons is None else comparisons
    tests = [simulatability.compare_arms(accuracies, a, b, alternatives, method=method)
             for a, b, alternatives in comparisons]
    try:
        mixed, mixed_note = mixed_model_table(simulatability.mixed_effects_model(trials, participants)), ""
    except AnalysisError as error:
        mixed, mixed_note = pd.DataFrame(columns=["term", "estimate", "sd", "z"]), f"not fitted: {error}"
    return SimulatabilityReport(
        table=simulatability.accuracy_table(accuracies),
        tests=(pd.concat(tests, ignore_index=True) if tests
               else pd.DataFrame(columns=simulatability.TEST_COLUMNS)),
        mixed=mixed,
        mixed_note=mixed_note,
        cant_tell=simulatability.cant_tell_rates(trials, participants),
        questions=simulatability.question_accuracies(trials, participants),
        participation=(simulatability.participation_summary(participants) if participants is not None
                       else pd.DataFrame()),
        accuracies=accuracies,
    )


def format_table1(table: pd.DataFrame) -> pd.DataFrame:
    """The PV paper's Table 1: one row per arm, "8.3% (±1.3%)" per subset, n, and the chance line."""
    rows = []
    for (arm, technique), group in table.groupby(["arm", "technique"], sort=False):
        cells = group.set_index("subset")
        row = {"Arm": arm, "Technique": technique, "n": int(group["n"].max())}
        for subset in simulatability.SUBSETS.values():
            if subset in cells.index:
                mean, se = cells.loc[subset, "mean"], cells.loc[subset, "se"]
                row[subset.capitalize()] = f"{100 * mean:.1f}% (±{100 * se:.1f}%)" if np.isfinite(se) \
                    else f"{100 * mean:.1f}%"
            else:
                row[subset.capitalize()] = ""
        rows.append(row)
    chance = f"{100 * table['chance'].iloc[0]:.0f}%" if len(table) else ""
    rows.append({"Arm": "Chance", "Technique": "", "n": "",
                 **{subset.capitalize(): chance for subset in simulatability.SUBSETS.values()}})
    return pd.DataFrame(rows)


def format_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """Mann-Whitney rows as printed: how p was computed, U, Z to 2 decimals, p in scientific
    notation, r (rank-biserial) and CL (common-language effect) with their bootstrap intervals
    ("degenerate" when every resample gave the same value), and any small-sample warning."""
    def effect(value: float, low: float, high: float, degenerate: bool) -> str:
        return f"{value:.2f} (interval degenerate)" if degenerate else f"{value:.2f} [{low:.2f}, {high:.2f}]"

    degenerate = tests["ci_degenerate"].astype(bool)
    return pd.DataFrame({
        "Subset": tests["subset"].str.capitalize(),
        "Comparison": tests["first"] + " vs " + tests["second"],
        "H1": tests["alternative"],
        "p method": tests["method"],
        "n": tests["n_first"].astype(str) + " vs " + tests["n_second"].astype(str),
        "U": tests["u"].map(lambda u: f"{u:g}"),
        "Z": tests["z"].map(lambda z: f"{z:.2f}"),
        "p": tests["pvalue"].map(lambda p: f"{p:.3g}"),
        "r (95% CI)": list(map(effect, tests["effect"], tests["ci_low"], tests["ci_high"], degenerate)),
        "CL (95% CI)": list(map(effect, tests["common_language"], tests["cl_low"], tests["cl_high"],
                                degenerate)),
        "Warning": tests["warning"].fillna(""),
    })


def format_mixed_model(mixed: pd.DataFrame) -> pd.DataFrame:
    """The mixed model's rows as printed: estimates and SDs to 3 decimals, z to 2."""
    def number(value: float, digits: int) -> str:
        return "" if pd.isna(value) else f"{value:.{digits}f}"

    return pd.DataFrame({
        "Term": mixed["term"],
        "Estimate (log-odds)": mixed["estimate"].map(lambda v: number(v, 3)),
        "Posterior SD": mixed["sd"].map(lambda v: number(v, 3)),
        "z": mixed["z"].map(lambda v: number(v, 2)),
    })


# ---------------------------------------------------------------- output formats


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `frame` (cells as str, `|` escaped)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "| " + " | ".join("---" for _ in frame.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def to_latex(frame: pd.DataFrame) -> str:
    """A booktabs `tabular` of `frame`, special characters escaped (± as $\\pm$)."""
    def cell(value: object) -> str:
        return "".join(LATEX_SPECIALS.get(char, char) for char in str(value))

    lines = [r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\toprule",
             " & ".join(cell(c) for c in frame.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all (temporary file in the same folder, then rename)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8, newlines as given) to `path` whole or not at all."""
    return write_bytes(path, text.encode("utf-8"))


def warning_lines(tests: pd.DataFrame) -> str:
    """Markdown: each distinct non-empty `warning` of a tests frame once, in order."""
    unique = dict.fromkeys(warning for warning in tests["warning"] if warning)
    return "".join(f"\n**Warning:** {warning}.\n" for warning in unique)


def write_texts(out_dir: str | os.PathLike, texts: dict[str, str]) -> list[Path]:
    """Write each name -> text of `texts` into `out_dir` (created if missing), each whole or not at all."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_text(out_dir / name, text) for name, text in texts.items()]


def write_simulatability_report(
    trials: pd.DataFrame,
    participants: pd.DataFrame | None,
    out_dir: str | os.PathLike,
    comparisons: list[tuple[str, str, dict[str, str] | None]] | None = None,
    method: str = "auto",
    questionnaire: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write table1.csv, table1.md, table1.tex, mannwhitney.csv, mannwhitney.tex, mixed_model.csv,
    cant_tell.csv, questions.csv, participation.csv (with participants) and the Figure 6
    histograms into `out_dir`. table1.md holds Table 1, the tests (each naming its p method) and
    the mixed model beside them, then the questionnaire sections: confidence.csv (accuracy by
    confidence level per arm, when trials carry ratings), questionnaire_options.csv and
    questionnaire_numbers.csv (when `questionnaire`, the long-format answers, has rows). `notes`, lines
    about the study (e.g. how its options were chosen), open table1.md under "Study".

    Everything is computed before the first file is written; returns the paths written.
    """
    report = simulatability_report(trials, participants, comparisons, method)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table1, tests = format_table1(report.table), format_tests(report.tests)
    markdown = "".join(f"{line}\n" for line in ["## Study\n", *notes, ""]) if notes else ""
    markdown += "## Simulatability (Table 1)\n\n" + to_markdown(table1)
    if len(tests):
        markdown += "\n## Mann-Whitney U on per-participant accuracies\n\n" + to_markdown(tests)
        markdown += warning_lines(report.tests)
    markdown += ("\n## Logistic mixed model of each answer (random participant and question intercepts)\n\n"
                 + (to_markdown(format_mixed_model(report.mixed)) if report.mixed_note == ""
                    else report.mixed_note + "\n"))
    files = {
        "table1.csv": report.table.to_csv(index=False),
        "table1.md": markdown,
        "table1.tex": to_latex(table1),
        "mannwhitney.csv": report.tests.to_csv(index=False),
        "mannwhitney.tex": to_latex(tests),
        "mixed_model.csv": report.mixed.to_csv(index=False),
        "cant_tell.csv": report.cant_tell.to_csv(index=False),
        "questions.csv": report.questions.to_csv(index=False),
    }
    if participants is not None:
        files["participation.csv"] = report.participation.to_csv(index=False)
    extra_markdown, extra_files = questionnaire_sections(trials, participants, questionnaire)
    files["table1.md"] += extra_markdown
    files.update(extra_files)
    paths = [write_text(out_dir / name, text) for name, text in files.items()]
    return paths + simulatability.plot_histograms(report.accuracies, out_dir)


def questionnaire_sections(trials: pd.DataFrame, participants: pd.DataFrame | None,
                           questionnaire: pd.DataFrame | None) -> tuple[str, dict[str, str]]:
    """Markdown and CSV files of accuracy by confidence (when trials carry ratings) and of the
    questionnaire blocks (counts per option; n, mean, SD of numbers and Likert points), each of
    completed participants only when `participants` is given (as Table 1)."""
    markdown, files = "", {}
    if "confidence" in trials.columns and trials["confidence"].notna().any():
        confidence = simulatability.accuracy_by_confidence(trials, participants)
        files["confidence.csv"] = confidence.to_csv(index=False)
        markdown += ("\n## Accuracy by confidence rating (answers of completed participants; SE of a "
                     "proportion)\n\n" + to_markdown(confidence.round(3)))
    if questionnaire is not None and len(questionnaire):
        options = questionnaire_summary.option_counts(questionnaire, participants)
        numbers = questionnaire_summary.number_summaries(questionnaire, participants)
        who = "completed participants" if participants is not None else "everyone"
        files["questionnaire_options.csv"] = options.to_csv(index=False)
        files["questionnaire_numbers.csv"] = numbers.to_csv(index=False)
        markdown += (f"\n## Questionnaire: choices ({who} who answered)\n\n" + to_markdown(options.round(3))
                     + f"\n## Questionnaire: numbers and Likert points ({who}; mean, sample SD)\n\n"
                     + to_markdown(numbers.round(3)))
    return markdown, files


def _left_out_notes(metrics: Sequence[str], scored: Sequence[str], ranks: pd.DataFrame,
                    ranked: Sequence[str]) -> list[str]:
    """What the figures leave out: metrics with no score at all, and metrics ranked over fewer images
    than the ranking plot's (their mean ranks stay in mean_ranks.csv)."""
    notes = []
    unscored = [metric.upper() for metric in metrics if metric not in scored]
    if unscored:
        notes.append(f"No scores for {', '.join(unscored)} on any image: left out of the figures.")
    fewer = ranks.loc[~ranks["metric"].isin(ranked)].drop_duplicates("metric")
    if len(fewer):
        counts = ", ".join(f"{row.metric.upper()} (n={row.n})" for row in fewer.itertuples())
        notes.append(f"The ranking plot shows the metrics ranked over the same {ranks['n'].max()} images; "
                     f"{counts} were ranked over fewer and are only in mean_ranks.csv.")
    return notes


def write_gaze_report(
    scores: pd.DataFrame,
    out_dir: str | os.PathLike,
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
    baselines: Sequence[str] = (),
    panel: Sequence[gaze_figures.PanelRow] = (),
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write gaze_table.csv, gaze_table.md, gaze_table.tex, paired_tests.csv, mean_ranks.csv, the
    figures (figure_boxes.png, figure_ranking.png, figure_panel.png when `panel` is given) and
    report.html (every table and figure, `notes` on top under one heading, with what was left out of
    the figures and why) into `out_dir`.

    scores: one row per method and image, columns method, image and one per metric; the methods
    named in `baselines` (centre bias, inter-observer) get table rows and boxes but take no part
    in the paired tests or the ranking. Everything is computed before the first file is written.
    """
    metrics = _metric_columns(scores, metrics)
    table = gaze_table(scores, metrics)
    explained = scores[~scores["method"].isin(baselines)]
    tests = paired_tests(explained, metrics, alpha)
    ranks = gaze_figures.mean_ranks(explained, metrics)
    formatted = format_gaze_table(table, metrics)
    markdown = "## Explanation maps vs human gaze (mean ± SD, n images per cell)\n\n" + to_markdown(formatted)
    markdown += (f"\n## Paired Wilcoxon signed-rank tests (Holm per metric, n >= {MIN_PAIRED_N})\n\n"
                 + to_markdown(tests))
    scored = [metric for metric in metrics if scores[metric].notna().any()]
    ranked = gaze_figures.comparable_metrics(ranks)
    notes = [*notes, *_left_out_notes(metrics, scored, ranks, ranked)]
    figures = {}
    if scored:
        boxes = gaze_figures.metric_boxes(scores, scored, baselines)
        figures["figure_boxes"] = gaze_figures.figure_png(boxes)
    if ranked:
        figures["figure_ranking"] = gaze_figures.figure_png(gaze_figures.ranking_plot(explained, ranked))
    if panel:
        figures["figure_panel"] = gaze_figures.figure_png(gaze_figures.stimulus_panel(panel))
    sections = [("Notes", list(notes))] * bool(notes) + [
        ("Explanation maps vs human gaze (mean ± SD, n images per cell)", formatted),
        ("Per-stimulus maps", figures.get("figure_panel", b"")),
        ("Scores per method", figures.get("figure_boxes", b"")),
        ("Ranking (mean rank over images scored by every method, 1 = best)",
         figures.get("figure_ranking", b"")),
        (f"Paired Wilcoxon signed-rank tests (Holm per metric, only pairs with n >= {MIN_PAIRED_N})",
         tests.drop(columns=["reject"])),
    ]
    sections = [(heading, content) for heading, content in sections
                if not isinstance(content, bytes) or content]  # a figure not drawn: no empty section
    texts = {
        "gaze_table.csv": table.to_csv(index=False),
        "gaze_table.md": markdown,
        "gaze_table.tex": to_latex(formatted),
        "paired_tests.csv": tests.to_csv(index=False),
        "mean_ranks.csv": ranks.to_csv(index=False),
        "report.html": gaze_figures.html_report("Explanation maps vs human gaze", sections),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_text(out_dir / name, text) for name, text in texts.items()]
    return paths + [write_bytes(out_dir / f"{name}.png", data) for name, data in figures.items()]
