from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"

    def ready(self) -> None:
        from analysis import checks, signals  # noqa: F401 - registers the checks, connects the receivers
        from analysis.leaderboard.selectors import blind_ratings_of_contenders
        from arena.signals import sampling_ratings

        sampling_ratings(blind_ratings_of_contenders)
