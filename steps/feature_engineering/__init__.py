"""ZenML steps of the feature pipeline: plan (query the warehouse), clean, chunk/embed/load."""

from steps.feature_engineering.chunk_embed_load import chunk_embed_load
from steps.feature_engineering.clean_documents import clean_documents
from steps.feature_engineering.query_data_warehouse import query_data_warehouse

__all__ = ["chunk_embed_load", "clean_documents", "query_data_warehouse"]
