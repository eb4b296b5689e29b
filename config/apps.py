from django.apps import AppConfig


class ConfigApp(AppConfig):
    """The project wiring as an app: its `runarena` command, and the layers connected once the apps are ready."""

    name = "config"

    def ready(self) -> None:
        from config.wiring import layers_connect

        layers_connect()
