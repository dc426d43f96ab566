"""Query expansion: the LLM rephrases the question so retrieval can search several phrasings.

Off by default (``QUERY_EXPANSION``): on a CPU every expansion is a generation call.
"""

from __future__ import annotations

from loguru import logger


class QueryExpander:
    PROMPT = (
        "Write {n} different short search queries that would find documents answering the question "
        "below. One query per line, no numbering, nothing else.\n\nQuestion: {query}"
    )

    def __init__(self, llm, count: int = 2) -> None:
        self.llm = llm
        self.count = count

    def expand(self, query: str) -> list[str]:
        """The question itself followed by up to ``count`` distinct rephrasings."""
        reply = self.llm.chat(
            [{"role": "user", "content": self.PROMPT.format(n=self.count, query=query)}],
            max_tokens=24 * self.count,
        ).text
        seen = {query.strip().casefold()}
        queries = [query]
        for line in reply.splitlines():
            line = line.strip().lstrip("-*0123456789.) ").strip()
            if line and line.casefold() not in seen:
                seen.add(line.casefold())
                queries.append(line)
            if len(queries) > self.count:
                break
        logger.debug(f"query expansion: {queries}")
        return queries
