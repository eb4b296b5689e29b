"""A person plays full battles in Debian's chromium (Playwright) against real SmolLM2 contenders.

The server is the project's ASGI application under uvicorn in a thread of the test process, so it
shares the test database; the worker is a real Celery worker on the real Redis.
"""

import time

import pytest

from arena.models import Battle, Vote
from modelhub.models import Contender
from tests.factories import in_db_thread, wait_for_stage, wait_until


def test_full_battle_vote_energy_switch_and_names(arena_server, artifacts_dir, page):
    page.goto(f"{arena_server}/arena/")
    page.click("#random-example")
    assert page.input_value("#prompt").strip()
    page.fill("#prompt", "Give me three tips for staying focused while studying.")
    started = time.monotonic()
    page.click("#send")
    wait_for_stage(page, "generating", 20_000)
    wait_until(page, "document.querySelector('#answer-a').textContent.length > 0 && "
                           "document.querySelector('#answer-b').textContent.length > 0", timeout=240_000)
    first_text = time.monotonic() - started
    assert page.is_disabled("#vote-bar button[data-choice='a']")  # no vote before both answers are done
    wait_for_stage(page, "blind_vote")
    total = time.monotonic() - started
    print(f"\nbattle in the page: both panes showing text after {first_text:.1f} s, complete after {total:.1f} s")
    assert "tok" in page.text_content("#stats-a")
    responses = in_db_thread(lambda: {r.side: r for r in Battle.objects.get().responses.all()})
    for side, response in responses.items():
        answer = page.locator(f"#answer-{side}")
        # Rendered from Markdown (block elements, not one text node), and read from its start.
        assert answer.evaluate("el => el.children.length > 0 && el.scrollTop === 0")
        assert answer.text_content() == rendered_text(page, response.text)
        cut_off = page.locator(f"#cut-off-{side}")
        if response.finish_reason == "length":
            assert cut_off.is_visible() and f"Cut off at {response.output_tokens} tokens" in cut_off.text_content()
        else:
            assert cut_off.is_hidden()
    assert page.locator("#energy-panel").is_hidden()
    assert "SmolLM2" not in page.text_content("#battle")  # names stay hidden

    page.click("#vote-bar button[data-choice='a']")
    wait_for_stage(page, "final_vote", 20_000)
    energy = page.text_content("#energy-panel")
    assert " J" in energy and "estimated from" in energy and "CPU time" in energy
    assert "the energy of" in page.text_content("#energy-ratio") or "same energy" in page.text_content("#energy-ratio")
    assert "SmolLM2" not in page.text_content("#battle")
    page.screenshot(path=str(artifacts_dir / "arena-energy-reveal.png"), full_page=True)

    page.click("#final-vote-bar button[data-choice='b']")
    wait_for_stage(page, "revealed", 20_000)
    assert "SmolLM2" in page.text_content("#name-a") and "SmolLM2" in page.text_content("#name-b")
    page.screenshot(path=str(artifacts_dir / "arena-battle-revealed.png"), full_page=True)
    vote = in_db_thread(lambda: Vote.objects.values_list("blind_choice", "final_choice", "changed").get())
    assert vote == ("a", "b", True)


def test_script_in_a_prompt_is_shown_as_text(arena_server, page):
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>'
    page.goto(f"{arena_server}/arena/")
    page.fill("#prompt", hostile)
    page.click("#send")
    wait_for_stage(page, "generating", 20_000)
    assert page.text_content("#sent-prompt") == hostile
    assert page.locator("#sent-prompt b, #sent-prompt img, #sent-prompt script").count() == 0
    wait_for_stage(page, "blind_vote")
    assert page.evaluate("window.__pwned") is None
    assert in_db_thread(lambda: Battle.objects.get().prompt) == hostile


@pytest.fixture
def broken_contender(transactional_db):
    """A language model whose weights vanished after preparation: its side fails in the worker."""
    from modelhub.models import Model

    model = Model.objects.create(name="Vanished", family="Gone", kind=Model.Kind.CHAT, source_type="hf_folder",
                                 source="/nonexistent/vanished", status=Model.Status.READY,
                                 prepared_path="/nonexistent/vanished")
    return Contender.objects.create(model=model, name="Vanished greedy")


def test_side_by_side_with_a_failing_side(broken_contender, arena_server, page):
    page.goto(f"{arena_server}/arena/compare/")
    page.select_option("#contender-a", label="Vanished greedy")
    page.select_option("#contender-b", label="SmolLM2-135M greedy")
    page.fill("#prompt", "Say hello.")
    page.click("#send")
    wait_for_stage(page, "failed")
    assert "failed" in page.text_content("#error-a")
    assert page.locator("#error-a button.try-another").is_visible()
    assert page.text_content("#answer-b").strip()  # the other pane is unaffected
    assert page.is_disabled("#vote-bar button[data-choice='b']")
    excluded = in_db_thread(lambda: Battle.objects.values_list("mode", "has_error").get())
    assert excluded == ("named", True)
    page.click("#error-a button.try-another")
    assert page.input_value("#prompt") == "Say hello."


def test_reload_during_generation_shows_what_arrived(arena_server, page):
    page.goto(f"{arena_server}/arena/")
    page.fill("#prompt", "Write a short poem about the sea.")
    page.click("#send")
    wait_until(page, "document.querySelector('#answer-a').textContent.length > 0", timeout=240_000)
    page.reload()
    assert "battle=" in page.url
    wait_until(page, "document.querySelector('#sent-prompt').textContent.length > 0")
    assert page.text_content("#sent-prompt") == "Write a short poem about the sea."
    wait_for_stage(page, "blind_vote")
    texts = in_db_thread(lambda: dict(Battle.objects.get().responses.values_list("side", "text")))
    for side in ("a", "b"):  # each pane shows exactly the stored answer, rendered
        assert page.text_content(f"#answer-{side}") == rendered_text(page, texts[side])


def test_on_a_phone_the_vote_bar_stays_in_view_and_keys_vote(arena_server, artifacts_dir, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{arena_server}/arena/")
    page.fill("#prompt", "Explain in detail how a bicycle gear system works.")
    page.click("#send")
    wait_for_stage(page, "blind_vote")
    assert "Keys 1 to 4 vote" in page.text_content("#status")  # the live region announces it
    bar = page.locator("#vote-bar").bounding_box()
    assert bar is not None and bar["y"] >= 0 and bar["y"] + bar["height"] <= 844, bar  # reachable without scrolling
    page.screenshot(path=str(artifacts_dir / "arena-phone-blind-vote.png"))
    page.focus("#prompt")
    page.keyboard.press("1")  # typing in the prompt box is not voting
    assert page.locator("#arena[data-stage='blind_vote']").count() == 1
    page.locator("#answer-a").focus()
    page.keyboard.press("1")
    wait_for_stage(page, "final_vote", 20_000)
    page.keyboard.press("Control+2")  # with a modifier: not a vote
    page.wait_for_timeout(300)
    assert page.locator("#arena[data-stage='final_vote']").count() == 1
    page.keyboard.press("2")
    wait_for_stage(page, "revealed", 20_000)
    page.keyboard.press("3")  # voting is over: nothing happens
    page.wait_for_timeout(300)
    assert page.locator("#reveal-name-a").is_visible()
    page.screenshot(path=str(artifacts_dir / "arena-phone-revealed.png"), full_page=True)
    vote = in_db_thread(lambda: Vote.objects.values_list("blind_choice", "final_choice").get())
    assert vote == ("a", "b")


def rendered_text(page, markdown: str) -> str:
    """The text a pane shows for `markdown`, by the page's own renderer (static/arena/markdown.js)."""
    return page.evaluate("""async (text) => {
        const { renderMarkdown } = await import("/static/arena/markdown.js");
        const box = document.createElement("div");
        box.append(renderMarkdown(text));
        return box.textContent;
    }""", markdown)


HOSTILE_ANSWER = """Here is **bold**, `inline code` and a list:

1. first
2. second

```python
print("copied")
```

<script>window.__pwned = 1</script>

<img src=x onerror="window.__pwned = 2">

Inline <a href="javascript:window.__pwned = 3">raw link</a>, <b onclick="window.__pwned = 5">b</b>,
<iframe src="https://example.org/"></iframe> and an image ![tracker](https://example.org/pixel.png).

[md link](javascript:window.__pwned=4) [data link](data:text/html,hi) [fine](https://example.org/docs)

| col | val |
|-----|-----|
| x   | 1   |
"""


def test_an_answer_is_rendered_as_markdown_and_sanitized(asgi_server, browser_page):
    """The page's renderer on a model answer with hostile HTML and links: Markdown becomes markup,
    raw HTML stays text, nothing runs, no address a model chose is fetched."""
    page = browser_page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{asgi_server}/arena/")
    page.evaluate("""async (text) => {
        const { renderAnswerInto } = await import("/static/arena/markdown.js");
        document.querySelector("#battle").hidden = false;
        renderAnswerInto(document.querySelector("#answer-a"), text);
    }""", HOSTILE_ANSWER)
    answer = page.locator("#answer-a")
    assert answer.locator("strong").inner_text() == "bold"
    assert answer.locator("p code").inner_text() == "inline code"
    assert answer.locator("ol li").count() == 2
    assert answer.locator("pre code").inner_text().strip() == 'print("copied")'
    assert answer.locator("table td").all_inner_texts() == ["x", "1"]
    for tag in ("script", "img", "iframe", "b", "input", "style"):
        assert answer.locator(tag).count() == 0, tag
    text = answer.text_content()
    assert "<script>window.__pwned = 1</script>" in text and "onerror" in text  # shown as text
    handlers = page.evaluate("""() => [...document.querySelectorAll('#answer-a *')]
        .flatMap((el) => [...el.attributes].map((a) => a.name)).filter((name) => name.startsWith('on'))""")
    assert handlers == []
    hrefs = answer.locator("a").evaluate_all("links => links.map((a) => [a.getAttribute('href'), a.rel, a.target])")
    assert all(href is None or href.startswith("https://") for href, _, _ in hrefs), hrefs
    assert ["https://example.org/docs", "nofollow noopener noreferrer", "_blank"] in hrefs
    for link in answer.locator("a:not([href])").all():  # the links whose address was dropped
        link.click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert not [url for url in requests if "example.org" in url]  # the image was not fetched

    page.click("#answer-a .copy-code")
    wait_until(page, "document.querySelector('#answer-a .copy-code').dataset.label === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()").strip() == 'print("copied")'
    assert "Copy" not in answer.locator("pre").text_content()  # the label is not part of the answer


@pytest.fixture
def qwen_pair(bundled_ready):
    """Only the same-family pair ready: the default policy (same-family) draws 0.5B against 1.5B."""
    bundled_ready("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
    Contender.objects.filter(model__family="Qwen2.5-Coder").update(max_new_tokens=24)  # quick on 2 cores


def test_the_same_family_pair_streams_reveals_energy_and_names(qwen_pair, live_arena, artifacts_dir, page):
    """The GEA battle as a person plays it: both sizes stream, each answer's energy per token is
    revealed, then the names and sizes (the energy ratio itself is measured by bench/family_pair.py)."""
    page.goto(f"{live_arena}/arena/")
    page.fill("#prompt", "What is the capital of France? Answer in one sentence.")
    page.click("#send")
    wait_until(page, "document.querySelector('#answer-a').textContent.length > 0 && "
                           "document.querySelector('#answer-b').textContent.length > 0", timeout=240_000)
    wait_for_stage(page, "blind_vote")
    assert "Qwen" not in page.text_content("#battle")
    page.click("#vote-bar button[data-choice='b']")
    wait_for_stage(page, "final_vote", 20_000)
    for side in "ab":
        assert page.text_content(f"#energy-{side} .energy-per-unit").endswith("J per token")
        assert "Wh: a 10 W LED bulb lit for" in page.text_content(f"#energy-{side} .energy-everyday")
        assert "CPU time" in page.text_content(f"#energy-{side} details.energy-how")  # behind the disclosure
    assert page.text_content("#energy-ratio").strip()
    page.click("#final-vote-bar button[data-choice='a']")
    wait_for_stage(page, "revealed", 20_000)
    names = {page.text_content("#name-a"), page.text_content("#name-b")}
    assert {("0.5B" in name, "1.5B" in name) for name in names} == {(True, False), (False, True)}
    assert all("parameters" in name and "bfloat16" in name for name in names)
    # the card the view lands on names both, with size and decoding, each linking its contender page
    card = page.locator("#reveal")
    assert card.is_visible()
    cards = {side: (page.text_content(f"#reveal-name-{side}"), page.text_content(f"#reveal-details-{side}"),
                    page.get_attribute(f"#reveal-name-{side}", "href")) for side in "ab"}
    assert {name for name, _, _ in cards.values()} == {"Qwen2.5-Coder-0.5B greedy", "Qwen2.5-Coder-1.5B greedy"}
    assert {details.split(" · ")[1] for _, details, _ in cards.values()} == {"630M parameters", "1.78B parameters"}
    assert all(href.startswith("/models/qwen25-coder-") for _, _, href in cards.values())
    page.screenshot(path=str(artifacts_dir / "arena-same-family-revealed.png"), full_page=True)
    battle = in_db_thread(lambda: Battle.objects.values_list("policy", flat=True).get())
    assert battle == "same-family"
    joules = in_db_thread(lambda: list(Battle.objects.get().responses.values_list("joules", "output_tokens")))
    assert all(j is not None and j > 0 and tokens > 0 for j, tokens in joules)


@pytest.fixture
def encoders(bundled_ready):
    bundled_ready("all-minilm-l6-v2", "all-mpnet-base-v2")


@pytest.fixture
def retrieval_corpus(encoders, live_arena):
    """A small corpus, registered once the worker runs: it embeds it with both bundled encoders. Some
    documents have titles, some are written in reStructuredText (the built-in Python docs are)."""
    import json

    from tests.factories import corpus_upload

    documents = [
        {"id": 1, "title": "Bees", "text": "Bees make honey from the nectar of flowers."},
        {"id": 2, "title": "Eiffel Tower", "text": "The Eiffel Tower is in Paris and was finished in 1889."},
        {"id": 3, "text": "To boil an egg, simmer it in water for about eight minutes."},
        {"id": 4, "title": "Jupiter",
         "text": "Planets\n=======\n\n.. note:: Jupiter is the **largest** planet in the :ref:`solar system <sol>`."},
        {"id": 5, "text": "A violin has four strings and is played with a bow."},
        {"id": 6, "text": "Regular exercise improves sleep and mood."},
        {"id": 7, "title": "Pacific Ocean", "text": "The ``Pacific`` is the largest and deepest ocean on Earth.\n----"},
    ]
    data = "\n".join(json.dumps(document) for document in documents).encode()
    return corpus_upload(name="Trivia", data=data, filename="trivia.jsonl")


def test_retrieval_battle(retrieval_corpus, live_arena, artifacts_dir, page):
    """A search battle in its own words (query, results, searched), each side's documents as cards."""
    import re

    from django.conf import settings

    from arena.models import CorpusEmbedding

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        statuses = in_db_thread(lambda: list(CorpusEmbedding.objects.values_list("status", flat=True)))
        if statuses and all(s in ("ready", "failed") for s in statuses):
            break
        time.sleep(0.5)
    assert statuses == ["ready", "ready"]
    page.goto(f"{live_arena}/arena/retrieval/")
    assert page.text_content("label[for='prompt']") == "Your query"
    page.select_option("#corpus", label="Trivia (7 documents)")
    page.fill("#prompt", "Which planet is the biggest?")
    page.click("#send")
    wait_for_stage(page, "blind_vote", 120_000)
    assert page.text_content(".sent-prompt-heading") == "Query"
    assert page.text_content("#vote-question") == "Which results are better?"
    assert page.text_content("#status").startswith("Both searches are done. Which results are better?")
    titles = {"Bees", "Eiffel Tower", "Jupiter", "Pacific Ocean", "Document 3", "Document 5", "Document 6"}
    for side in "ab":
        pane = page.locator(f"#answer-{side}")
        assert pane.get_attribute("aria-label") == f"Results of model {side.upper()}"
        cards = pane.locator("ol.results > li.result")
        assert cards.count() == settings.ARENA_RETRIEVAL_TOP_K
        first = cards.nth(0)
        assert first.locator(".result-title").inner_text() == "1. Jupiter"  # the title, not the page id
        # The passage without its markup: the heading's underline, the directive, ** and the role.
        snippet = first.locator(".result-snippet").inner_text()
        assert snippet == "Planets: Jupiter is the largest planet in the solar system."
        for n in range(cards.count()):
            heading = cards.nth(n).locator(".result-title").inner_text()
            assert heading.split(" ", 1)[0] == f"{n + 1}." and heading.split(" ", 1)[1] in titles
            assert re.fullmatch(r"similarity -?\d\.\d\d", cards.nth(n).locator(".result-score").inner_text())
        shown = pane.inner_text()
        assert not any(markup in shown for markup in ("====", "----", ".. ", "**", "``", ":ref:"))
        assert page.text_content(f"#stats-{side}").startswith("searched in ")
        assert "token" not in page.text_content(f"#pane-{side}")
    assert "answer" not in page.text_content("#battle").lower()
    page.click("#vote-bar button[data-choice='tie']")
    wait_for_stage(page, "final_vote", 20_000)
    assert page.text_content("#status").startswith("Here is the energy each search used.")
    energy = page.text_content("#energy-panel")
    assert "per 1,000 documents" in energy and "Per output token" not in energy
    for side in "ab":
        figures = page.text_content(f"#energy-{side} .energy-figures")
        assert figures.count("Embedding the documents (once)") == 1 and "token" not in figures
        assert re.fullmatch(r"[\d.,]+ J per 1,000 documents",
                            page.text_content(f"#energy-{side} .energy-per-unit")), energy
    page.screenshot(path=str(artifacts_dir / "retrieval-energy-reveal.png"), full_page=True)
    page.click("#final-vote-bar button[data-choice='tie']")
    wait_for_stage(page, "revealed", 20_000)
    names = page.text_content("#name-a") + page.text_content("#name-b")
    assert "MiniLM" in names and "mpnet" in names
    assert "greedy" not in names and "greedy" not in page.text_content("#reveal")  # an encoder decodes nothing
    battle = in_db_thread(lambda: Battle.objects.values_list("kind", "corpus__name").get())
    assert battle == ("retrieval", "Trivia")


def test_retrieval_results_are_cards_of_text_and_the_page_says_query(asgi_server, browser_page):
    """The retrieval page's own words, and its result cards built as text: a hostile title or snippet
    stays text, nothing runs; a side without results falls back to its plain text."""
    page = browser_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{asgi_server}/arena/retrieval/")
    page.click("#send")  # no query yet
    assert page.text_content("#error") == "Type a query first, or pick a random example."
    cards = page.evaluate("""async () => {
        const { renderResults } = await import("/static/arena/render.js");
        const box = document.querySelector("#answer-a");
        renderResults(box, {text: "plain", results: [
            {doc_id: "x", title: "<img src=x onerror='window.__pwned = 1'>", score: 0.5,
             snippet: "<script>window.__pwned = 2</script>"},
            {doc_id: "9", title: "", score: 0.25, snippet: "second"},
        ]});
        const other = document.querySelector("#answer-b");
        renderResults(other, {text: "1. Document 9  (similarity 0.25)", results: []});
        return {
            titles: [...box.querySelectorAll("li.result .result-title")].map((el) => el.textContent),
            scores: [...box.querySelectorAll(".result-score")].map((el) => el.textContent),
            snippets: [...box.querySelectorAll(".result-snippet")].map((el) => el.textContent),
            elements: box.querySelectorAll("img, script").length,
            fallback: other.textContent,
        };
    }""")
    assert cards["titles"] == ["1. <img src=x onerror='window.__pwned = 1'>", "2. Document 9"]
    assert cards["scores"] == ["similarity 0.50", "similarity 0.25"]
    assert cards["snippets"] == ["<script>window.__pwned = 2</script>", "second"]
    assert cards["elements"] == 0 and cards["fallback"] == "1. Document 9  (similarity 0.25)"
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None and errors == []

    page.goto(f"{asgi_server}/arena/")
    page.click("#send")
    assert page.text_content("#error") == "Type a prompt first, or pick a random example."
    assert errors == []


@pytest.fixture
def workers_starting(smollm2_contenders):
    """A worker that beat once, long ago: the arena knows its models but no live worker serves them
    (what the page meets while `make run` starts). `serve()` makes a live one beat."""
    from datetime import timedelta

    from django.utils import timezone

    from modelhub.models import Model
    from workers.models import WorkerHeartbeat

    queues = ["default"] + [model.queue_name for model in Model.objects.filter(status=Model.Status.READY)]
    long_ago = timezone.now() - timedelta(hours=1)
    WorkerHeartbeat.objects.create(hostname="old@test", pid=1, started_at=long_ago, last_seen=long_ago, queues=queues)

    def serve() -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.create(hostname="new@test", pid=2, started_at=now, last_seen=now, queues=queues)

    return serve


def test_a_battle_sent_while_the_arena_warms_up_starts_by_itself(workers_starting, live_arena, page):
    page.goto(f"{live_arena}/arena/")
    page.fill("#prompt", "Say hello.")
    page.click("#send")
    page.wait_for_selector("#notice:not([hidden])")
    assert "warming up" in page.text_content("#notice") and "by itself" in page.text_content("#notice")
    assert page.locator("#error").is_hidden()  # a 503 while warming up is no error
    assert page.is_disabled("#send")
    assert in_db_thread(lambda: Battle.objects.count()) == 0
    in_db_thread(workers_starting)
    wait_for_stage(page, "generating", 30_000)
    assert page.locator("#notice").is_hidden() and page.locator("#error").is_hidden()
    assert page.text_content("#sent-prompt") == "Say hello."
    wait_for_stage(page, "blind_vote")


@pytest.fixture
def one_slot_per_model(settings):
    """Batches of one request: the second side of a battle between two contenders of one model waits
    for the first in its model's queue. The engines of earlier tests go (they keep their own limits)."""
    from workers import runtime

    settings.ARENA_BATCHING = True
    settings.ARENA_BATCH_MAX_REQUESTS = 1
    runtime.model_cache.clear()
    yield
    runtime.model_cache.clear()


@pytest.fixture
def long_answers(smollm2_contenders):
    """Answers long enough (seconds) that the waiting side is still in line when the page's socket joins:
    with 40 tokens the first side could finish before the page saw the second one queued (seen once in CI)."""
    from modelhub.models import Contender

    Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens=150)


def test_a_side_waiting_for_its_models_batch_shows_its_place_in_line(long_answers, one_slot_per_model,
                                                                     live_arena, page):
    page.goto(f"{live_arena}/arena/compare/")
    # Everything the waiting notes say, as the page shows it (the wait may be short).
    page.evaluate("""() => {
        window.__waiting = [];
        for (const side of ["a", "b"]) {
            const el = document.getElementById("waiting-" + side);
            new MutationObserver(() => { if (!el.hidden) window.__waiting.push([side, el.textContent]); })
                .observe(el, {childList: true, characterData: true, subtree: true, attributes: true});
        }
    }""")
    page.select_option("#contender-a", label="SmolLM2-135M greedy")
    page.select_option("#contender-b", label="SmolLM2-135M sampling")
    page.fill("#prompt", "Write a short poem about the sea.")
    page.click("#send")
    wait_for_stage(page, "blind_vote")
    shown = [text for _, text in page.evaluate("window.__waiting")]
    assert "Queued: next in line" in shown, shown  # one side waited while the other had the only slot
    assert page.locator("#waiting-a").is_hidden() and page.locator("#waiting-b").is_hidden()
    texts = in_db_thread(lambda: dict(Battle.objects.get().responses.values_list("side", "text")))
    for side in ("a", "b"):  # each pane shows exactly the stored answer, rendered
        assert page.text_content(f"#answer-{side}") == rendered_text(page, texts[side])


@pytest.fixture
def fam_pair(transactional_db, make_contender):
    return make_contender(family="Fam"), make_contender(family="Fam")


@pytest.mark.parametrize("condition", ["joules", "relative", "carbon", "control"])
def test_each_reveal_condition_shows_exactly_its_reveal(
    fam_pair, settings, asgi_server, artifacts_dir, browser_page, condition
):
    """A battle of each condition, answered (stored without a worker), voted in the page: the panel after
    the blind vote shows the condition's reveal and nothing more; after the final vote, the names (and in
    control, the energy)."""
    from arena.models import Response
    from tests.factories import finish

    settings.ARENA_GRID_INTENSITY_G_PER_KWH = 400
    a, b = fam_pair
    page = browser_page
    page.goto(f"{asgi_server}/arena/")
    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")

    def battle_stored() -> int:
        battle = Battle.objects.create(prompt="Which is greener?", contender_a=a, contender_b=b, policy="uniform",
                                       session_key=session_key, reveal=condition)
        for side, contender in (("a", a), ("b", b)):
            Response.objects.create(battle=battle, side=side, contender=contender)
        finish(battle, joules=(7777.77, 3333.33))
        return battle.id

    if condition == "joules":  # 19 earlier votes of this session: this battle's is the 20th (its own ladder)
        from arena.services import vote_cast

        def earlier_votes() -> None:
            for _ in range(19):
                earlier = battle_stored()
                vote_cast(battle_id=earlier, session_key=session_key, stage="blind", choice="a")
                vote_cast(battle_id=earlier, session_key=session_key, stage="final", choice="a")

        in_db_thread(earlier_votes)
    battle_id = in_db_thread(battle_stored)
    page.goto(f"{asgi_server}/arena/?battle={battle_id}")
    wait_for_stage(page, "blind_vote", 20_000)
    page.click("#vote-bar button[data-choice='a']")
    wait_for_stage(page, "final_vote", 20_000)
    panel = page.text_content("#energy-panel")
    question = page.text_content("#final-vote-question")
    page.screenshot(path=str(artifacts_dir / f"arena-reveal-{condition}.png"), full_page=True)
    if condition == "control":
        assert page.locator("#energy-sides").is_hidden() and "A second look" in panel
        assert question == "Would you like to change your vote?" and "7" not in page.text_content("#energy-ratio")
    elif condition == "relative":
        assert "Used less energy" in panel and "Used more energy" in panel and "about 2× less" in panel
        assert " J" not in panel and "7,777" not in panel and "Wh" not in panel
        assert page.locator("#energy-a .energy-figures").is_hidden()
    else:
        assert "7,778 J" in panel, panel
        assert ("g CO2e" in panel) == (condition == "carbon")
    assert "Fam-model" not in page.text_content("#battle")  # names stay hidden until the final vote

    page.click("#final-vote-bar button[data-choice='b']")
    wait_for_stage(page, "revealed", 20_000)
    assert a.name in page.text_content("#reveal") and b.name in page.text_content("#reveal")
    shown = page.text_content("#energy-panel")
    if condition == "control":  # no one leaves without the energy
        assert page.locator("#energy-sides").is_visible() and "Energy used" in shown
        assert "on a second look" in page.text_content("#vote-changed")
    own = page.locator("#own-ladder-link")
    assert own.is_visible() == (condition == "joules")  # after the session's 20th counted vote
    if condition == "joules":
        own.click()
        page.wait_for_url("**/leaderboard/mine/")
        assert "20 counted votes" in page.text_content("main")
    page.screenshot(path=str(artifacts_dir / f"arena-reveal-{condition}-revealed.png"), full_page=True)
