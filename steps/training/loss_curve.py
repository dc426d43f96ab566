"""The training loss curves as a ZenML artifact whose dashboard preview is the plotted image."""

from __future__ import annotations

import base64
import os
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.pydantic_materializer import PydanticMaterializer

from llm_engineering.application.evaluation.curves import curves_in
from llm_engineering.application.evaluation.report import plot_training


class LossCurves(BaseModel):
    """Per-step losses of each stage of one registry version (``SFT``/``DPO`` curves by name)."""

    version: str
    training_curves: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)

    @classmethod
    def of(cls, version) -> LossCurves:
        """The curves recorded in a registry version's metrics."""
        curves: dict[str, list[tuple[float, float]]] = {}
        curves_in(version.metrics, "", curves)
        return cls(version=version.version, training_curves=curves)


class LossCurvesMaterializer(PydanticMaterializer):
    """Stored as JSON (like any pydantic artifact); previewed as a PNG of the curves."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (LossCurves,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.STATISTICS

    def save_visualizations(self, data: LossCurves) -> dict[str, VisualizationType]:
        png = plot_training(data)  # the same figure as the evaluation report's training section
        if png is None:
            return {}
        path = os.path.join(self.uri, "loss_curves.png")
        with fileio.open(path, "wb") as out:
            out.write(base64.b64decode(png))
        return {path.replace("\\", "/"): VisualizationType.IMAGE}
