import itertools

import pytest

from modelhub.models import Contender, Model

_counter = itertools.count()


@pytest.fixture
def make_contender(db):
    """A ready contender; its weights are never loaded by the tests that use this factory."""

    def make(name: str | None = None, family: str = "Fam", kind: str = Model.Kind.CHAT, maker: str = "Acme",
             weight: float = 1.0, enabled: bool = True, status: str = Model.Status.READY) -> Contender:
        number = next(_counter)
        model = Model.objects.create(
            name=f"{family}-model-{number}", family=family, maker=maker, kind=kind,
            source_type=Model.SourceType.HF_FOLDER, source=f"/nonexistent/{number}", status=status,
        )
        return Contender.objects.create(
            model=model, name=name or f"{family} contender {number}", sampling_weight=weight, enabled=enabled
        )

    return make
