"""The web chat page in real headless Chromium: type a question, watch the answer stream in with
its sources."""

import pytest
from conftest import open_chromium
from fixtures.rag.support import load_fixture_corpus, local_llm, serve_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    driver = open_chromium()
    yield driver
    driver.quit()


def test_question_gets_a_streamed_answer_with_sources(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from llm_engineering.infrastructure.api import create_app
    from llm_engineering.settings import load_settings

    load_fixture_corpus()
    app = create_app(load_settings(SERVICE_DEFAULT_MAX_TOKENS=24), llm=local_llm())
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
