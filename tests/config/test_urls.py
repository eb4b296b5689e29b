"""Site-wide routes of config/urls.py that belong to no app."""

from pathlib import Path

from django.test import Client

STATIC = Path(__file__).resolve().parents[2] / "static"


def test_every_page_names_its_icon_and_favicon_ico_leads_to_it(db):
    client = Client()
    html = client.get("/arena/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"] == "/static/favicon.svg"
    assert (STATIC / "favicon.svg").read_text().startswith("<svg")
