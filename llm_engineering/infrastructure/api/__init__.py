"""The FastAPI inference service (``create_app``); started by ``python -m tools.ml_service serve``."""

from llm_engineering.infrastructure.api.app import create_app

__all__ = ["create_app"]
