from django.urls import path

from training import views

urlpatterns = [
    path("training/", views.runs_page, name="training-runs"),
    path("training/<int:run_id>/", views.run_page, name="training-run"),
    path("training/<int:run_id>.json", views.run_json, name="training-run-json"),
]
