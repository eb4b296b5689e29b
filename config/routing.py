from django.urls import path, re_path

from analysis.consumers import LeaderboardConsumer
from arena.consumers import BattleConsumer, NoRouteConsumer

websocket_urlpatterns = [
    path("ws/battles/<int:battle_id>/", BattleConsumer.as_asgi()),
    path("ws/leaderboard/", LeaderboardConsumer.as_asgi()),
    re_path(r"", NoRouteConsumer.as_asgi()),  # last: every other path
]
