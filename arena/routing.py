from django.urls import path

from analysis.consumers import LeaderboardConsumer
from arena.consumers import BattleConsumer

websocket_urlpatterns = [
    path("ws/battles/<int:battle_id>/", BattleConsumer.as_asgi()),
    path("ws/leaderboard/", LeaderboardConsumer.as_asgi()),
]
