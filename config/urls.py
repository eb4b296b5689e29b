from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from analysis.diagnostics import views as diagnostics_views
from arena import views
from config import health

urlpatterns = [
    path("", views.battle_page, name="home"),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico where a page names no icon (a JSON answer, an old browser).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("arena/", views.battle_page, name="battle-page"),
    path("arena/compare/", views.compare_page, name="compare-page"),
    path("arena/retrieval/", views.retrieval_page, name="retrieval-page"),
    path("arena/examples.json", views.examples, name="examples"),
    path("arena/battles/", views.battles_create, name="battles-create"),
    path("arena/battles/<int:battle_id>/", views.battle_detail, name="battle-detail"),
    path("arena/battles/<int:battle_id>/vote/", views.battle_vote, name="battle-vote"),
    path("diagnostics/", diagnostics_views.diagnostics_page, name="diagnostics"),
    path("diagnostics/progress.json", diagnostics_views.diagnostics_progress, name="diagnostics-progress"),
    path("diagnostics/run/", diagnostics_views.diagnostics_start, name="diagnostics-start"),
    path("models/<slug:slug>/", diagnostics_views.contender_page, name="contender"),
    path("admin/", admin.site.urls),
    path("", include("analysis.urls")),
    path("", include("training.urls")),
]

handler400 = "config.errors.error_400"
handler403 = "config.errors.error_403"
handler404 = "config.errors.error_404"
handler500 = "config.errors.error_500"
