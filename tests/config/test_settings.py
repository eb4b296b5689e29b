"""The site-wide protections set in config/settings.py: the Content-Security-Policy (django-csp) and
admin login throttling (django-axes)."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.factories import in_db_thread
from training.models import TrainingRun

PAGES = ["/", "/arena/retrieval/", "/arena/compare/", "/leaderboard/", "/diagnostics/", "/training/"]


def test_every_page_carries_a_strict_content_security_policy(db):
    for path in [*PAGES, "/admin/login/", "/no-such-page/"]:
        policy = Client().get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", path
        assert "unsafe" not in policy and directives["object-src"] == "'none'", path
        assert directives["frame-ancestors"] == "'none'", path


@pytest.fixture
def staff(transactional_db):
    return User.objects.create_superuser("boss", "boss@example.org", "right-password-1")


@pytest.fixture
def trained_run(make_contender):
    base, tuned = make_contender(kind="encoder", name="Base"), make_contender(kind="encoder", name="Tuned")
    return TrainingRun.objects.create(
        base=base, name="Tuned", objective="cosent", pairs_path="/x/pairs.tsv", status="done", progress=1.0,
        step=2, total_steps=2, model=tuned.model,
        curves=[{"step": 0, "loss": None, "alignment": 0.4, "uniformity": -2.0},
                {"step": 2, "loss": 1.5, "alignment": 0.3, "uniformity": -2.2}],
    )


def test_the_pages_work_under_the_policy_and_an_injected_script_does_not_run(
        staff, trained_run, asgi_server, browser_page):
    page = browser_page
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    contender = in_db_thread(lambda: trained_run.model.contenders.get())
    # Each violation in the console with where it came from (Chrome's own message does not say).
    page.add_init_script("""document.addEventListener("securitypolicyviolation", (e) => console.log(
        "Content Security Policy: " + e.violatedDirective + " " + JSON.stringify(e.sample)
        + " at " + e.sourceFile + ":" + e.lineNumber + ":" + e.columnNumber))""")
    for path in [*PAGES, f"/models/{contender.slug}/", f"/training/{trained_run.id}/"]:
        page.goto(f"{asgi_server}{path}")
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, path
    # The run page draws its curves with plotly (a script from this site) under the policy.
    page.wait_for_selector("#training-loss .main-svg", state="attached")
    page.goto(f"{asgi_server}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "right-password-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{asgi_server}/admin/")
    for path in (f"/admin/modelhub/model/{contender.model_id}/change/", "/admin/modelhub/model/add/",
                 "/admin/arena/battle/", f"/admin/training/trainingrun/{trained_run.id}/change/"):
        page.goto(f"{asgi_server}{path}")
        page.wait_for_load_state("networkidle")
    assert violations == [], violations

    page.goto(f"{asgi_server}/arena/")
    page.evaluate("""() => {
        window.__blocked = [];
        document.addEventListener("securitypolicyviolation", (e) => window.__blocked.push(e.violatedDirective));
        const script = document.createElement("script");
        script.textContent = "window.__pwned = 1";
        document.body.append(script);
        const box = document.createElement("div");
        box.innerHTML = '<img src="/static/favicon.svg" onload="window.__pwned = 2">';
        document.body.append(box);
    }""")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    blocked = page.evaluate("window.__blocked")
    assert any(directive.startswith("script-src") for directive in blocked), blocked


def test_admin_login_is_locked_after_repeated_wrong_passwords(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
        assert answer.status_code == 200 and b"Please enter the correct username" in answer.content
    locked = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert locked.status_code == 429 and locked["Retry-After"] == str(settings.AXES_COOLOFF_MINUTES * 60)
    assert f"blocked for {settings.AXES_COOLOFF_MINUTES} minutes" in locked.content.decode()
    # The right password does not get through while locked, nor from a fresh session of the same address.
    assert Client().post("/admin/login/", {"username": "boss", "password": "right-password-1"}).status_code == 429
    # Another address is not locked out by this one's failures.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/admin/login/", {"username": "boss", "password": "right-password-1"}).status_code == 302
    call_command("axes_reset_username", "boss")
    assert Client().post("/admin/login/", {"username": "boss", "password": "right-password-1"}).status_code == 302


def test_a_right_password_resets_the_count_of_failures(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "boss", "password": "right-password-1"}).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/admin/login/", {"username": "boss", "password": "wrong"}).status_code == 200
