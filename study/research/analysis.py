"""A study's analysis written into a folder: what `analyze_study` runs and what an "analysis" job
calls (the analysis page shows the latest job's files, see study.research.analysis_page)."""
from __future__ import annotations

from pathlib import Path

from study.building.options import describe_distractors
from study.models import Study
from study.survey.designs import design_of
from study.survey.designs.attention import block_clicks_summary
from study.research.export import participants_dataframe, questionnaire_dataframe, trials_dataframe


def write_study_analysis(study: Study, folder: Path, method: str = "auto") -> list[Path]:
    """Write the report of `study`'s design on its answers (completed participants only; simulation: Table 1,
    the Mann-Whitney tests with p-values by `method`, the histograms, ...) into `folder`, headed by how the
    options were chosen, and with an attention block its clicks_summary.csv; returns the files written.
    AnalysisError when the answers cannot be analysed."""
    notes = [describe_distractors(study.provenance)] if study.design == study.Design.SIMULATION else []
    paths = design_of(study).write_analysis(
        study, trials_dataframe(study), participants_dataframe(study), questionnaire_dataframe(study), folder,
        method, notes)
    if study.attention_block:
        path = folder / "clicks_summary.csv"
        block_clicks_summary(study).to_csv(path, index=False)
        paths.append(path)
    return paths
