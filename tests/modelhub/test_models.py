import pytest

from modelhub.models import Model


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (None, ""),
        (0, ""),
        (999, "999 parameters"),
        (22_713_216, "22.7M parameters"),
        (134_515_008, "135M parameters"),
        (630_167_424, "630M parameters"),
        (1_777_088_000, "1.78B parameters"),
        (7_000_000_000, "7B parameters"),
    ],
)
def test_parameters_read_as_people_say_them(count, text):
    assert Model(parameter_count=count).parameters_text == text
