"""Query expansion and LLM self-query with the real local model (both off by default)."""

import pytest
from fixtures.rag.support import load_fixture_corpus, local_llm

from llm_engineering.application.rag import ContextRetriever, RetrievalConfig
from llm_engineering.application.rag.authors import LLMAuthorDetector
from llm_engineering.application.rag.expansion import QueryExpander


@pytest.fixture(scope="module")
def llm():
    return local_llm()


def test_expansion_searches_the_question_and_its_rephrasings(llm):
    load_fixture_corpus()
    expander = QueryExpander(llm, count=2)
    queries = expander.expand("How should I pick a vector database?")
    assert queries[0] == "How should I pick a vector database?"
    assert 1 <= len(queries) <= 3 and len(set(q.casefold() for q in queries)) == len(queries)
    retriever = ContextRetriever(RetrievalConfig.from_settings(expansion=True), llm=llm)
    result = retriever.retrieve("How should I pick a vector database?", k=3)
    assert "expansion" in result.timings_ms and result.queries[0] == "How should I pick a vector database?"
    assert result.chunks[0].title == "Choosing a vector database"


def test_llm_self_query_still_prefers_names_and_never_creates_users(llm):
    from llm_engineering.domain.documents import UserDocument

    load_fixture_corpus()
    users = UserDocument.count()
    detector = LLMAuthorDetector(llm)
    assert detector.detect("What does Ada Okafor say about LoRA?").full_name == "Ada Okafor"
    found = detector.detect("Summarise the post about polite crawlers.")  # no name: the model is asked
    assert found is None or found.full_name in {"Maxime Laurent", "Ada Okafor", "김민준"}
    assert UserDocument.count() == users
