"""The logic of LLM Twin: crawling, preprocessing, datasets, RAG and evaluation."""
