"""The web chat page in real headless Chromium: type a question, watch the answer stream in with
its sources; each source listed once, a thinking state, a conversation kept within the context, and
a way to start over; errors a person can act on (the service down, an unknown author, a limit the
service would refuse)."""

import os
import re
from pathlib import Path

import pytest
from conftest import open_chromium
from fixtures.rag.support import load_fixture_corpus, local_llm, serve_in_thread

from llm_engineering.application.rag.answer import NO_ANSWER

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(os.environ["LLM_TWIN_SCREENSHOTS"]) if os.environ.get("LLM_TWIN_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def browser():
    driver = open_chromium()
    yield driver
    driver.quit()


def test_question_gets_a_streamed_answer_with_sources(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from llm_engineering.entrypoints.api.app import create_app
    from llm_engineering.settings import load_settings

    load_fixture_corpus()
    app = create_app(load_settings(SERVICE_DEFAULT_MAX_TOKENS=24, RAG_ANSWER_MODE="generate"), llm=local_llm())
    with serve_in_thread(app) as url:
        browser.get(url + "/")
        assert browser.title == "LLM Twin"
        # Count how often the answer's text changes: a streamed answer changes many times.
        browser.execute_script(
            "window.answerUpdates = 0; new MutationObserver(records => { for (const r of records) {"
            " const t = r.target.nodeType === 3 ? r.target.parentElement : r.target;"
            " if (t && t.closest('.answer')) window.answerUpdates++; } })"
            ".observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});"
        )
        question = browser.find_element(By.ID, "question")
        question.send_keys("Which snapshot option does Maxime enable on production clusters?")
        browser.find_element(By.ID, "send").click()

        answer = lambda: browser.find_elements(By.CSS_SELECTOR, ".turn.assistant .answer")
        WebDriverWait(browser, 180).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".turn.assistant").get_attribute("data-done") == "true"
        )
        final = answer()[0].text.strip()
        assert final and "error" not in answer()[0].get_attribute("class")
        assert browser.execute_script("return window.answerUpdates") > 3  # shown piece by piece
        links = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant .sources a")
        assert links and links[0].get_attribute("href") == "https://blog.example.com/maxime/vector-databases"
        assert browser.find_element(By.CSS_SELECTOR, ".turn.user").text.startswith("Which snapshot option")


def _ask(browser, text: str, turns: int) -> None:
    """Type ``text``, send it, and wait until the ``turns``-th answer is done."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("document.getElementById('question').value = arguments[0];", text)
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 120).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn.assistant[data-done='true']")) == turns
    )


def test_sources_once_thinking_state_memory_within_the_context_and_start_over(browser):
    import httpx
    from selenium.webdriver.common.by import By

    from llm_engineering.entrypoints.api.app import create_app
    from llm_engineering.settings import load_settings

    load_fixture_corpus()
    settings = load_settings(RAG_ANSWER_MODE="extractive", RAG_HISTORY_CHARS=2000)
    app = create_app(settings, llm=local_llm())
    question = "Which snapshot option does Maxime enable on production clusters?"
    with serve_in_thread(app) as url:
        served = httpx.post(url + "/rag", json={"query": question}, timeout=120).json()
        documents = [s["document_id"] for s in served["sources"]]
        assert len(documents) == len(set(documents)) > 1  # the service, like the page, cites each document once

        browser.get(url + "/")
        browser.execute_script(
            "window.sent = []; const realFetch = window.fetch;"
            "window.fetch = (u, o) => { window.sent.push(JSON.parse(o.body)); return realFetch(u, o); };"
            "window.sawThinking = false; new MutationObserver(() => {"
            " const box = document.querySelector('.turn.assistant.thinking');"
            " if (box && box.getAttribute('aria-busy') === 'true') window.sawThinking = true; })"
            ".observe(document.getElementById('log'), {subtree: true, childList: true, attributes: true});"
        )
        _ask(browser, question, 1)
        assert browser.execute_script("return window.sawThinking")
        first = browser.find_element(By.CSS_SELECTOR, ".turn.assistant")
        assert "thinking" not in first.get_attribute("class")
        links = first.find_elements(By.CSS_SELECTOR, ".sources li a")
        hrefs = [a.get_attribute("href") for a in links]
        assert len(hrefs) == len(set(documents)) and len(set(hrefs)) == len(hrefs)  # each source once
        assert "https://blog.example.com/maxime/vector-databases" in hrefs
        assert "[1]" in first.find_element(By.CSS_SELECTOR, ".answer").text  # quotes cite their source
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", first.find_element(By.CSS_SELECTOR, ".answer").text)}
        items = first.find_elements(By.CSS_SELECTOR, ".sources li")
        assert [i + 1 for i, li in enumerate(items) if "uncited" not in li.get_attribute("class")] == sorted(cited)

        long_question = "Tell me about vector databases. " + "I would like to know about snapshots. " * 40
        _ask(browser, long_question, 2)
        _ask(browser, "What does Ada say about recall?", 3)
        _ask(browser, "And about LoRA on a laptop?", 4)
        sent = [body["messages"] for body in browser.execute_script("return window.sent")]
        assert [len(m) for m in sent[:2]] == [1, 3]  # the second question carries the first turn
        assert all(sum(len(m["content"]) for m in messages[:-1]) <= 2000 for messages in sent)
        assert long_question not in [m["content"] for m in sent[3]]  # the oldest turns are left out
        assert [m["content"] for m in sent[3]][-3:][::2] == [
            "What does Ada say about recall?",
            "And about LoRA on a laptop?",
        ]
        forgotten = browser.find_elements(By.CSS_SELECTOR, ".turn.forgotten")
        assert forgotten and "no longer sees" in browser.find_element(By.ID, "memory").text
        if SCREENSHOTS:
            browser.save_screenshot(str(SCREENSHOTS / "chat_page.png"))

        browser.find_element(By.ID, "new-chat").click()
        assert browser.find_elements(By.CSS_SELECTOR, "#log .turn") == []
        _ask(browser, "Which snapshot option does Maxime enable?", 1)
        assert len(browser.execute_script("return window.sent")[-1]["messages"]) == 1  # a fresh conversation
        _ask(browser, "Which cat food brand does Maxime buy?", 2)  # nothing Maxime wrote answers it
        declined = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")[-1]
        assert declined.find_element(By.CSS_SELECTOR, ".answer").text == NO_ANSWER
        title = declined.find_element(By.CSS_SELECTOR, ".sources-title").text
        assert title.lower().startswith("passages the twin read")

        # A file source is shown by its name, never by a path on the server's disk.
        browser.execute_script(
            "const box = document.createElement('div'); box.id = 'probe'; document.body.appendChild(box);"
            "showSources(box, [{document_id: 'a', title: 'Notes', link: 'file:///srv/data/jiwon/notes.md'},"
            " {document_id: 'a', title: 'Notes', link: 'file:///srv/data/jiwon/notes.md'}]);"
        )
        probe = browser.find_element(By.ID, "probe")
        assert len(probe.find_elements(By.CSS_SELECTOR, "li")) == 1
        assert probe.text.endswith("Notes (notes.md)") and "/srv/" not in probe.text

        # A conversation far longer than the model's context: answered, nothing crashes.
        history = []
        for i in range(60):
            history += [
                {"role": "user", "content": f"Earlier question number {i} about vector search. " * 6},
                {"role": "assistant", "content": f"Earlier answer number {i}. " * 12},
            ]
        for mode in ("extractive", "generate"):
            body = {"messages": [*history, {"role": "user", "content": question}], "max_tokens": 8}
            if mode == "generate":
                body["rag"] = False
            reply = httpx.post(url + "/v1/chat/completions", json=body, timeout=180)
            assert reply.status_code == 200, reply.text
            assert reply.json()["choices"][0]["message"]["content"].strip()


def _quiet_service(**overrides):
    """The real app over the fixture warehouse, its model configured but never loaded (what these
    checks ask needs none: limits, author look-up, the page itself)."""
    from llm_engineering.entrypoints.api.app import create_app
    from llm_engineering.infrastructure.llm.local import LocalLLM
    from llm_engineering.settings import load_settings

    return create_app(load_settings(**overrides), llm=LocalLLM())


def _spy_on_requests(browser) -> None:
    browser.execute_script(
        "window.sent = []; const realFetch = window.fetch;"
        "window.fetch = (u, o) => { if (o && o.body) window.sent.push(JSON.parse(o.body)); return realFetch(u, o); };"
    )


def test_limits_come_from_the_service_and_a_refused_value_is_never_sent(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from llm_engineering.domain.documents import UserDocument

    UserDocument.get_or_create_by_name("Maxime Laurent")
    with serve_in_thread(_quiet_service(SERVICE_MAX_TOKENS_LIMIT=64, SERVICE_DEFAULT_MAX_TOKENS=200)) as url:
        browser.get(url + "/")
        box = browser.find_element(By.ID, "max-tokens")
        WebDriverWait(browser, 10).until(lambda d: box.get_attribute("max") == "64")
        assert box.get_attribute("value") == "64"  # the service's default, within its limit
        assert "SmolLM2-135M-Instruct" in browser.find_element(By.ID, "model").text
        _spy_on_requests(browser)

        browser.find_element(By.CSS_SELECTOR, "details summary").click()
        box.clear()
        box.send_keys("100000")
        error = browser.find_element(By.ID, "max-tokens-error")
        assert error.is_displayed() and "at most 64" in error.text
        browser.find_element(By.ID, "question").send_keys("What does Maxime enable?")
        browser.find_element(By.ID, "send").click()
        assert browser.execute_script("return window.sent") == []  # refused here, as the service would
        assert browser.find_elements(By.CSS_SELECTOR, "#log .turn") == []
        assert browser.find_element(By.ID, "question").get_attribute("value") == "What does Maxime enable?"
        for bad in ("0", "2.5"):
            box.clear()
            box.send_keys(bad)
            assert "whole number from 1 to 64" in error.text

        # An unknown author: one clear line in the answer and beside the field, no blank first line.
        box.clear()
        box.send_keys("64")
        assert not error.is_displayed()
        browser.find_element(By.ID, "author").send_keys("Nobody Known")
        browser.find_element(By.ID, "send").click()
        WebDriverWait(browser, 60).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".turn.assistant[data-done='true']")
        )
        assert browser.execute_script("return window.sent")[0]["max_tokens"] == 64
        reply = browser.find_element(By.CSS_SELECTOR, ".turn.assistant")
        assert reply.find_elements(By.CSS_SELECTOR, ".answer") == []  # no empty answer above the error
        message = reply.find_element(By.CSS_SELECTOR, ".error").text
        assert message == "No author named 'Nobody Known'; the authors are Maxime Laurent."
        assert reply.text == message  # nothing but that one line
        assert browser.find_element(By.ID, "author-error").text == message


def test_the_service_down_gets_a_message_that_says_how_to_start_it(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve_in_thread(_quiet_service()) as url:
        browser.get(url + "/")
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "model").text)
        assert not browser.find_element(By.ID, "banner").is_displayed()
    # the service has stopped; the page is still open
    browser.find_element(By.ID, "question").send_keys("Are you there?")
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".turn.assistant[data-done='true']"))
    banner = browser.find_element(By.ID, "banner")
    assert banner.is_displayed() and "not running" in banner.text and "poe run-inference-ml-service" in banner.text
    replies = browser.find_elements(By.CSS_SELECTOR, ".turn.assistant")
    assert len(replies) == 1 and replies[0].find_elements(By.CSS_SELECTOR, ".answer") == []  # no empty bubble
    assert "not running" in replies[0].text and "TypeError" not in replies[0].text
    assert browser.find_element(By.ID, "question").get_attribute("value") == "Are you there?"  # kept to resend
    if SCREENSHOTS:
        browser.save_screenshot(str(SCREENSHOTS / "chat_page_service_down.png"))

    # Opened as a file, with no service behind it at all.
    page = Path(__file__).parents[2] / "llm_engineering" / "entrypoints" / "api" / "static" / "index.html"
    browser.get(page.as_uri())
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "banner").is_displayed())
    assert "opened as a file" in browser.find_element(By.ID, "banner").text
    assert "poe run-inference-ml-service" in browser.find_element(By.ID, "banner").text
