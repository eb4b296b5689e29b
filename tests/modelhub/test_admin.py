
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from modelhub.models import Model
from tests.factories import wait_for_status, wait_until


@pytest.fixture
def staff_client(transactional_db) -> Client:
    user = get_user_model().objects.create_superuser("boss", "", "a-long-password-1")
    client = Client()
    client.force_login(user)
    return client


def test_registering_a_bad_path_ends_failed_with_the_message_on_the_admin_page(
    staff_client, celery_worker_threads, tmp_path
):
    missing = tmp_path / "no-such-model"
    answer = staff_client.post("/admin/modelhub/model/add/", {
        "name": "Broken", "family": "Nobody", "maker": "", "kind": "chat",
        "source_type": "hf_folder", "source": str(missing),
    })
    assert answer.status_code == 302, answer.content.decode()[:2000]
    model = wait_for_status(Model.objects.get(name="Broken").id, {Model.Status.FAILED, Model.Status.READY})
    assert model.status == Model.Status.FAILED
    page = staff_client.get(f"/admin/modelhub/model/{model.id}/change/").content.decode()
    assert "No file or folder at" in page and str(missing) in page


def test_admin_form_refuses_relative_paths_and_unknown_packages(staff_client):
    answer = staff_client.post("/admin/modelhub/model/add/", {
        "name": "Rel", "family": "f", "kind": "chat", "source_type": "hf_folder", "source": "models/x",
    })
    assert answer.status_code == 200 and "absolute path" in answer.content.decode()
    answer = staff_client.post("/admin/modelhub/model/add/", {
        "name": "Pkg", "family": "f", "kind": "chat", "source_type": "package", "source": "not-bundled",
    })
    assert "Not a bundled package" in answer.content.decode()
    assert not Model.objects.filter(name__in=["Rel", "Pkg"]).exists()


def test_prepare_again_action_queues_preparation(staff_client, celery_worker_threads):
    model = Model.objects.create(name="Again", family="f", kind="chat", source_type="hf_folder",
                                 source="/nonexistent/again", status=Model.Status.FAILED, error="old")
    staff_client.post("/admin/modelhub/model/", {"action": "prepare_again", "_selected_action": [model.id]})
    model = wait_for_status(model.id, {Model.Status.FAILED}, 60)
    assert "No file or folder" in model.error


@pytest.mark.django_db
def test_registration_is_staff_only():
    user = get_user_model().objects.create_user("visitor", "", "a-long-password-1")
    client = Client()
    assert client.get("/admin/modelhub/model/add/").status_code == 302
    client.force_login(user)
    answer = client.get("/admin/modelhub/model/add/")
    assert answer.status_code == 302 and "/admin/login/" in answer.url
    answer = client.post("/admin/modelhub/model/add/", {"name": "X", "family": "f", "kind": "chat",
                                                          "source_type": "hf_folder", "source": "/x"})
    assert not Model.objects.filter(name="X").exists()


def _add(client: Client, name: str, **extra) -> object:
    return client.post("/admin/modelhub/model/add/", {
        "name": name, "family": "f", "maker": "", "kind": "chat", "source_type": "hf_folder",
        "source": f"/nonexistent/{abs(hash(name))}", **extra,
    })


def test_models_whose_names_share_a_slug_are_both_saved(staff_client, redis_services):
    for name in ("My model", "My model!", "模型", "模型模型"):
        answer = _add(staff_client, name, create_contender="on")
        assert answer.status_code == 302, answer.content.decode()[:3000]
    slugs = dict(Model.objects.values_list("name", "slug"))
    assert slugs["My model"] == "my-model" and slugs["My model!"] == "my-model-2"
    assert len(set(slugs.values())) == 4 and all(slugs.values())
    assert all(model.queue_name != "model." for model in Model.objects.all())


def test_adding_a_model_creates_its_contender_or_says_it_needs_one(staff_client, redis_services):
    from modelhub.models import Contender

    answer = _add(staff_client, "With", create_contender="on")
    assert answer.status_code == 302
    (contender,) = Contender.objects.filter(model__name="With")
    assert contender.name == "With" and contender.decoding == "greedy" and contender.precision == "float32"
    page = staff_client.get(answer["Location"]).content.decode()
    assert "Contender “With” created" in page

    answer = _add(staff_client, "Without")
    assert answer.status_code == 302 and not Contender.objects.filter(model__name="Without").exists()
    page = staff_client.get(answer["Location"]).content.decode()
    without = Model.objects.get(name="Without")
    assert "has no contender, so it cannot battle" in page
    assert f"/admin/modelhub/contender/add/?model={without.id}" in page


def test_status_json_is_for_staff_only(staff_client, redis_services):
    model = Model.objects.create(name="Poll", family="f", kind="chat", source_type="hf_folder", source="/x",
                                 status=Model.Status.PREPARING, progress=0.42, progress_text="Converting")
    answer = staff_client.get(f"/admin/modelhub/model/status.json?ids={model.id},nonsense")
    assert answer.json() == {"models": [{"id": model.id, "status": "preparing", "progress": 42,
                                         "progress_text": "Converting", "error": ""}]}
    stranger = Client().get(f"/admin/modelhub/model/status.json?ids={model.id}")
    assert stranger.status_code == 302 and "/admin/login/" in stranger["Location"]
    non_staff = Client()
    non_staff.force_login(get_user_model().objects.create_user("plain", password="x"))
    assert b"preparing" not in non_staff.get(f"/admin/modelhub/model/status.json?ids={model.id}").content


@pytest.mark.parametrize("ids", ["²", "1" * 26, "-1", "１", "%00", ",,,"])
def test_status_json_ignores_ids_that_are_no_ids(staff_client, ids):
    answer = staff_client.get("/admin/modelhub/model/status.json", {"ids": ids})
    assert answer.status_code == 200 and answer.json() == {"models": []}


def test_the_model_list_updates_its_status_live(staff_client, asgi_server, browser_page):
    from tests.factories import in_db_thread

    model = in_db_thread(lambda: Model.objects.create(name="Live", family="f", kind="chat", source_type="hf_folder",
                                             source="/x", status=Model.Status.PREPARING, progress=0.1,
                                             progress_text="Loading"))
    page = browser_page
    page.goto(f"{asgi_server}/admin/login/?next=/admin/modelhub/model/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    badge = f".model-status[data-model-id='{model.id}']"
    page.wait_for_selector(badge)
    assert page.text_content(badge) == "preparing"
    in_db_thread(lambda: Model.objects.filter(id=model.id).update(progress=0.6, progress_text="Smoke test"))
    bar = f".model-progress[data-model-id='{model.id}'] progress"
    wait_until(page, f"document.querySelector(\"{bar}\").value == 60", timeout=10_000)
    ready = {"status": Model.Status.READY, "progress": 1.0, "progress_text": ""}
    in_db_thread(lambda: Model.objects.filter(id=model.id).update(**ready))
    wait_until(page, f"document.querySelector(\"{badge}\").textContent === 'ready'", timeout=10_000)


def test_the_add_form_offers_the_catalogue_keys(admin_client):
    from modelhub.catalogue import CATALOGUE

    page = admin_client.get("/admin/modelhub/model/add/").content.decode()
    assert 'list="id_source_suggestions"' in page and '<datalist id="id_source_suggestions">' in page
    offered = page.split('<datalist id="id_source_suggestions">', 1)[1].split("</datalist>", 1)[0]
    assert CATALOGUE
    for key, entry in CATALOGUE.items():
        assert f'<option value="{key}">{entry.name} ({entry.kind})</option>' in offered
        assert f"<code>{key}</code>" in page  # the help text lists them too
    assert "absolute path on the worker machine" in page
    assert "Also create its contender" in page and "Measured" not in page  # nothing is measured before it exists


def test_the_change_page_folds_away_what_was_measured_rounded(admin_client):
    model = Model.objects.create(
        name="Measured", family="f", kind="chat", source_type="hf_folder", source="/x", status=Model.Status.READY,
        parameter_count=630_123_456, embedding_dim=896, load_seconds=2.0528637919999255, prepare_seconds=61.25,
        smoke_test_output="Hello",
    )
    page = admin_client.get(f"/admin/modelhub/model/{model.id}/change/").content.decode()
    status, measured = page.split("Preparation status", 1)[1].split("<details>", 1)
    assert 'data-model-id' in status and "Measured" not in status  # the live status stays in view
    folded = measured.split("</details>", 1)[0]
    assert "Measured" in folded and "Load time" in folded and "2.05 s" in folded and "61.25 s" in folded
    assert "630M" in folded and "Hello" in folded
    assert "2.0528637919999255" not in page and "Also create its contender" not in page
    listing = admin_client.get("/admin/modelhub/model/").content.decode()
    assert "630M" in listing and "630123456" not in listing and "630,123,456" not in listing
    assert "A model is the weights and where they come from" in listing


def test_the_contender_list_says_how_a_contender_differs_from_a_competitor(admin_client, make_contender):
    contender = make_contender(name="Plain greedy")
    listing = admin_client.get("/admin/modelhub/contender/").content.decode()
    assert "A contender is a model and how it is run" in listing and "leaderboard competitor" in listing
    page = admin_client.get(f"/admin/modelhub/contender/{contender.id}/change/").content.decode()
    folded = page.split("<details>", 1)[1].split("</details>", 1)[0]
    assert "plain-greedy" in folded and "/models/&lt;slug&gt;/" in folded
    assert "How it is run" in page and 'name="decoding"' in page
    adding = admin_client.get(f"/admin/modelhub/contender/add/?model={contender.model_id}").content.decode()
    assert 'name="decoding"' in adding and "Address" not in adding  # no address before it exists
