from django.urls import path

from analysis import views

urlpatterns = [
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("leaderboard/fragment/", views.leaderboard_fragment, name="leaderboard-fragment"),
    path("leaderboard/mine/", views.own_ladder_page, name="leaderboard-mine"),
    path("leaderboard/plotly.min.js", views.plotly_js, name="leaderboard-plotly"),
    path("api/leaderboard.json", views.leaderboard_json, name="api-leaderboard"),
    path("api/battles.jsonl", views.battles_jsonl, name="api-battles"),
]
