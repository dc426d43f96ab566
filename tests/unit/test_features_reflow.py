"""Hard-wrapped text is rejoined; paragraphs, headings, lists, tables and code stay exactly."""

from __future__ import annotations

import pytest

from llm_engineering.application.preprocessing.cleaning import clean_prose, letters_and_digits_kept
from llm_engineering.application.preprocessing.reflow import reflow

# Korean prose as an e-mail client wraps it: at spaces, 50 columns (Hangul counts 2).
KOREAN_WORD_WRAPPED = """우리 동네 도서관은 작년 봄에 새 건물로 옮겼다.
예전 건물은 계단이 가파르고 책장이 좁아서 어린이와
노인이 오르내리기 힘들었다. 새 건물에는
엘리베이터와 넓은 열람실이 있고, 창가 자리에서는
강이 내려다보인다. 주말이면 가족 단위 이용자가
많아 자리를 잡으려면 아침 일찍 가야 한다. 도서관은
이용자 의견을 모아 열람실 운영 시간을 저녁 아홉
시까지 늘리기로 했다.

대출 규칙도 바뀌었다. 한 사람이 빌릴 수 있는 책은
다섯 권에서 일곱 권으로 늘었고, 반납 기한은 이
주에서 삼 주로 길어졌다. 연체한 사람은 연체한
날수만큼 대출이 정지된다. 어린이 열람실은 보호자와
함께 와야 이용할 수 있다.

운영 시간:

- 평일: 오전 9시부터 오후 9시까지
- 주말: 오전 10시부터 오후 6시까지

| 구분 | 권수 | 기한 |
|---|---|---|
| 일반 | 7 | 21 |
| 어린이 | 5 | 14 |
"""

# The same kind of text as a word processor or PDF export leaves it: broken anywhere, even
# inside a word, and with a blank line between every line of a paragraph.
KOREAN_EXPORT = """회원증을 처음 만들 때는 신분증이 필요하다. 어

린이는 보호자의 동의가 필요하다. 도서관은 회원

증이 없는 방문자에게도 열람실을 열어 두지만,

책을 빌리려면 회원증이 필요하다. 회원증 발급에

필요한 서류는 누리집에 안내되어 있으며, 만 14

세 미만은 보호자와 함께 와야 한다. 발급에 필요

한 나이는 따로 없으나, 발급에 필요한 나이이나

서류가 바뀌면 누리집에 먼저 알린다.

다음 문단은 여기서 시작한다.
"""

ENGLISH_WRAPPED = """The library moved to its new building last spring. The old one had
steep stairs and narrow aisles, which made every visit hard for children
and older readers. The new building has a lift, a reading room with wide
windows over the river, and a quiet corner for people who work on laptops
all day long. On weekends the seats fill up before ten, so families come
early; the staff asked readers what they wanted and decided to keep the
reading room open until nine in the evening, answering a long and well-
known request, since the old building always closed its doors at six.

    def opening_hours(day):
        return "9-21" if day < 5 else "10-18"

Name        Books   Days
Adult           7     21
Child           5     14

1. Bring an identity card.
2. Fill in the form at the
   desk.
"""


def test_word_wrapped_korean_is_rejoined_with_spaces_and_the_rest_is_untouched():
    out = reflow(KOREAN_WORD_WRAPPED)
    paragraphs = out.split("\n\n")
    assert paragraphs[0].startswith("우리 동네 도서관은 작년 봄에 새 건물로 옮겼다. 예전 건물은")
    assert "새 건물에는\n엘리베이터와" in paragraphs[0]  # a short line: when unsure, the break stays
    assert "엘리베이터와 넓은 열람실이 있고, 창가 자리에서는 강이 내려다보인다." in paragraphs[0]
    assert "열람실 운영 시간을 저녁 아홉 시까지 늘리기로 했다." in paragraphs[0]
    assert paragraphs[1] == (
        "대출 규칙도 바뀌었다. 한 사람이 빌릴 수 있는 책은 다섯 권에서 일곱 권으로 늘었고, 반납 기한은 이 "
        "주에서 삼 주로 길어졌다. 연체한 사람은 연체한 날수만큼 대출이 정지된다. 어린이 열람실은 보호자와 "
        "함께 와야 이용할 수 있다."
    )
    tail = KOREAN_WORD_WRAPPED[KOREAN_WORD_WRAPPED.index("운영 시간:") :]
    assert out.endswith(tail)  # the list and the table, exactly


def test_a_word_broken_across_a_blank_line_is_rejoined_and_real_paragraphs_stay():
    out = reflow(KOREAN_EXPORT)
    assert "발급에 필요한 나이는 따로 없으나" in out  # 필요 / (blank) / 한: the document writes 필요한
    assert "도서관은 회원증이 없는 방문자에게도 열람실을 열어 두지만, 책을 빌리려면" in out
    assert "회원증 발급에 필요한 서류는" in out
    assert out.count("\n\n") == 1
    # A sentence that ends at the end of a line ends a paragraph: the break stays.
    assert out.endswith("누리집에 먼저 알린다.\n\n다음 문단은 여기서 시작한다.\n")


def test_english_is_rejoined_with_spaces_keeping_hyphens_code_tables_and_lists():
    out = reflow(ENGLISH_WRAPPED)
    first = out.split("\n\n")[0]
    assert "\n" not in first
    assert "hard for children and older readers." in first
    assert "answering a long and well-known request, since the old building" in first
    tail = ENGLISH_WRAPPED[ENGLISH_WRAPPED.index("    def opening_hours") :]
    assert out.endswith(tail)  # code, the aligned table and the list (its short line too), exactly


# A newsletter converted from HTML at 78 columns: short paragraphs, one-line questions and
# Markdown-escaped list items, so fewer than half of its prose lines are full.
NEWSLETTER = """### Three lessons from a year of running the reading club

We started the club with six members and a shelf of donated books, and by the
end of the year forty people came to the Thursday meetings.

Why?

Because the meetings were short.

Nobody had to finish the book before coming, which removed the fear that kept
people at home, and the hour always ended on time.

What we would keep:
\\- one book a month, chosen by a vote of everyone who came the month before
\\- a printed list of questions
\\- tea

What we would change:
\\- start at seven, not at six, so that people who work late can still join us
\\- a second room

See you in March.
"""


def test_a_wrapped_text_of_short_paragraphs_is_rejoined_and_escaped_list_items_stay_apart():
    out = reflow(NEWSLETTER)
    assert "a shelf of donated books, and by the end of the year forty people" in out
    assert "which removed the fear that kept people at home, and the hour" in out
    assert "\n\\- a printed list of questions\n\\- tea\n" in out  # each item stays on its line
    assert "\n\\- start at seven, not at six, so that people who work late can still join us\n\\- a second" in out
    assert "Why?\n\nBecause the meetings were short.\n\n" in out
    assert out.replace("\n", " ").split() == NEWSLETTER.replace("\n", " ").split()  # only line breaks changed


def test_a_hyphen_is_dropped_only_where_the_document_writes_the_word_without_it():
    text = (
        "Our reading room is open to everyone who lives or works in the inter-\n"
        "national district around the station, and the staff speak several\n"
        "languages, which helps the many international students who come in\n"
        "every evening to read and to study together for their examinations.\n"
    )
    assert "the international district" in reflow(text)


@pytest.mark.parametrize(
    "text",
    [
        # Markdown written one paragraph per line.
        "# Notes\n\nFirst paragraph, a long one that goes on for a while and says a lot of things.\n"
        "Second line of the same paragraph.\n\n- item one\n- item two\n",
        # A poem and an address: short lines the author broke on purpose.
        "바람이 분다\n살아야겠다\n\n서울시 중구\n세종대로 110\n",
        # A post written one sentence per line, the lines of similar length.
        "I just finished a course on large language models and it was great.\n"
        "Here is what I learned about fine-tuning and evaluating the models.\n"
        "First, data quality matters more than the size of the model you pick.\n"
        "Second, a small model tuned on good data can beat a much larger one.\n"
        "Third, always keep a held-out set that nobody tunes the system on.\n",
        # Hard-wrapped text with too few lines to tell.
        "A line that is fairly long and ends without punctuation and\ncontinues here.\n",
    ],
)
def test_text_that_is_not_clearly_hard_wrapped_is_left_alone(text):
    assert reflow(text) == text


def test_cleaning_reflows_and_keeps_every_letter_and_digit():
    for text in (KOREAN_WORD_WRAPPED, KOREAN_EXPORT, ENGLISH_WRAPPED):
        cleaned = clean_prose(text)
        assert letters_and_digits_kept(text, cleaned) == 1.0
        assert cleaned.count("\n") < text.count("\n")
