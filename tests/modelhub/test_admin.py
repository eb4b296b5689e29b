import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from modelhub.models import Model


def wait_for_status(model_id: int, statuses: set[str], timeout_s: float = 120) -> Model:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        model = Model.objects.get(id=model_id)
        if model.status in statuses:
            return model
        time.sleep(0.2)
    raise AssertionError(f"model {model_id} stayed {model.status}")


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
