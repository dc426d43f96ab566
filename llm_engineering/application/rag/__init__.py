"""Retrieval-augmented generation: self-query, hybrid search, reranking, prompts, evaluation."""

from llm_engineering.application.rag.authors import NameAuthorDetector, UnknownAuthorError
from llm_engineering.application.rag.evaluation import load_qa, measure_retrieval
from llm_engineering.application.rag.pipeline import RAGAnswer, TwinRAG
from llm_engineering.application.rag.prompt import build_rag_messages
from llm_engineering.application.rag.retriever import ContextRetriever, Retrieval, RetrievalConfig

__all__ = [
    "ContextRetriever",
    "NameAuthorDetector",
    "RAGAnswer",
    "Retrieval",
    "RetrievalConfig",
    "TwinRAG",
    "UnknownAuthorError",
    "build_rag_messages",
    "load_qa",
    "measure_retrieval",
]
