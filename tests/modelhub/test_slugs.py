import pytest

from arena.models import Corpus
from modelhub.models import Contender, Model
from modelhub.slugs import slug_unique


def _model(name: str) -> Model:
    return Model.objects.create(name=name, family="f", kind="chat", source_type="hf_folder", source=f"/m/{name}")


def test_names_with_the_same_slug_get_distinct_ones(db):
    assert _model("My model").slug == "my-model"
    assert _model("My model!").slug == "my-model-2"
    assert _model("my  MODEL").slug == "my-model-3"


@pytest.mark.parametrize("name", ["模型", "!!!", "🙂"])
def test_a_name_without_ascii_letters_or_digits_still_gets_a_valid_slug(db, name):
    model = _model(name)
    assert model.slug.startswith("model-") and len(model.slug) == len("model-") + 8
    assert model.queue_name == f"model.{model.slug}"
    other = _model(name + name)
    assert other.slug != model.slug


def test_contenders_and_corpora_use_the_same_rule(db):
    model = _model("Base")
    first = Contender.objects.create(model=model, name="Fast one")
    second = Contender.objects.create(model=model, name="Fast one?")
    assert (first.slug, second.slug) == ("fast-one", "fast-one-2")
    assert Contender.objects.create(model=model, name="快").slug.startswith("contender-")
    assert Corpus.objects.create(name="Docs").slug == "docs"
    assert Corpus.objects.create(name="Docs.").slug == "docs-2"
    assert Corpus.objects.create(name="文件").slug.startswith("corpus-")


def test_a_long_name_keeps_its_suffix_within_the_field(db):
    long_name = "x" * 100
    assert len(_model(long_name).slug) == 100
    second = _model(long_name.upper())  # same slug: the suffix must still fit
    assert len(second.slug) <= 100 and second.slug.endswith("-2")


def test_the_own_slug_is_not_a_conflict(db):
    model = _model("Keep")
    assert slug_unique(model_class=Model, name="Keep", instance_pk=model.pk) == "keep"
