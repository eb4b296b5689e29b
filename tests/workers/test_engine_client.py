"""The engine client against a scripted engine (a real HTTP server) for every fault, and the rules it
states: what it sends for each decoding, how it ends a stream, the sentence of each failure."""

import socket
import time

import pytest

from tests.workers.scripted_engine import ScriptedEngine
from workers.engine_client import Endpoint, EngineError, base_url_normalise, endpoint_check, endpoint_stream
from workers.generation import DecodingConfig

GREEDY = DecodingConfig(method="greedy", max_new_tokens=5)


@pytest.fixture
def engine():
    server = ScriptedEngine()
    yield server
    server.close()


def endpoint_of(engine: ScriptedEngine, **kwargs) -> Endpoint:
    return Endpoint(base_url=engine.url, served_model=kwargs.pop("served", engine.served), **kwargs)


def stream(endpoint: Endpoint, decoding: DecodingConfig = GREEDY, timeout_s: float = 10, **kwargs):
    deltas: list[str] = []
    result = endpoint_stream(endpoint, [{"role": "user", "content": "Hi"}], decoding,
                             deadline=time.monotonic() + timeout_s, on_token=deltas.append, **kwargs)
    return result, deltas


def test_a_stream_passes_each_delta_on_and_takes_the_engines_counts(engine):
    result, deltas = stream(endpoint_of(engine))
    assert deltas == [f"tok{n} " for n in range(5)] and result.text == "".join(deltas)
    assert (result.prompt_tokens, result.output_tokens, result.finish_reason) == (7, 5, "length")
    assert result.time_to_first_token_s is not None and result.time_to_first_token_s <= result.duration_s


def test_greedy_is_temperature_zero_and_sampling_sends_its_settings(engine):
    stream(endpoint_of(engine))
    stream(endpoint_of(engine), DecodingConfig(method="sampling", temperature=0.8, top_p=0.7, max_new_tokens=3))
    greedy, sampling = (request["json"] for request in engine.requests)
    assert greedy["temperature"] == 0 and greedy["stream"] is True and greedy["max_tokens"] == 5
    assert (sampling["temperature"], sampling["top_p"], sampling["max_tokens"]) == (0.8, 0.7, 3)
    assert greedy["messages"] == [{"role": "user", "content": "Hi"}]


def test_contrastive_search_is_refused_before_asking(engine):
    with pytest.raises(EngineError, match="contrastive"):
        stream(endpoint_of(engine), DecodingConfig(method="contrastive", max_new_tokens=3))
    assert engine.requests == []


def test_the_api_key_comes_from_the_named_environment_variable(engine, monkeypatch):
    monkeypatch.setenv("SCRIPTED_ENGINE_KEY", "s3cret-value")
    stream(endpoint_of(engine, api_key_env="SCRIPTED_ENGINE_KEY"))
    assert engine.requests[-1]["authorization"] == "Bearer s3cret-value"
    monkeypatch.delenv("SCRIPTED_ENGINE_KEY")
    with pytest.raises(EngineError, match="SCRIPTED_ENGINE_KEY .*is not set"):
        stream(endpoint_of(engine, api_key_env="SCRIPTED_ENGINE_KEY"))


@pytest.mark.parametrize(("behaviour", "said"), [
    ("status:401", "refused the request \\(401\\)"),
    ("status:403", "refused the request \\(403\\)"),
    ("status:500", "failed the request \\(500\\)"),
    ("status:503", "failed the request \\(503\\)"),
    ("garbage", "not OpenAI-compatible JSON"),
    ("break", "broke off the answer"),
])
def test_each_fault_is_a_sentence(engine, behaviour, said):
    engine.behaviour = behaviour
    with pytest.raises(EngineError, match=said) as raised:
        stream(endpoint_of(engine))
    # The visitor's sentence names neither the engine nor the model (that would tell who answered);
    # the operator's names the engine.
    assert engine.url not in str(raised.value) and engine.served not in str(raised.value)
    assert engine.url in raised.value.detail and said.replace("\\", "")[:12] in raised.value.detail


def test_a_model_the_engine_does_not_serve(engine):
    with pytest.raises(EngineError, match="does not serve it \\(404\\)") as raised:
        stream(endpoint_of(engine, served="other-model"))
    assert "other-model" not in str(raised.value) and "'other-model'" in raised.value.detail
    with pytest.raises(EngineError) as raised:
        endpoint_check(endpoint_of(engine, served="other-model"), timeout_s=5)
    assert "does not serve it: it lists scripted-model, not 'other-model'" in raised.value.detail


def test_an_engine_that_is_not_there():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once closed
    with pytest.raises(EngineError, match="cannot be reached"):
        stream(Endpoint(base_url=f"http://127.0.0.1:{port}/v1", served_model="m"))


def test_the_deadline_closes_a_slow_stream_and_keeps_what_arrived(engine):
    engine.behaviour, engine.tokens = "slow", 20
    started = time.monotonic()
    result, deltas = stream(endpoint_of(engine), DecodingConfig(max_new_tokens=20), timeout_s=2.5)
    assert result.finish_reason == "timeout" and time.monotonic() - started < 4.5
    assert 1 <= len(deltas) <= 4 and result.output_tokens == len(deltas)
    assert engine.closed_early.wait(5)  # the engine saw the stream closed: it stops generating


def test_an_engine_silent_past_the_deadline_times_out(engine):
    engine.behaviour = "stall"
    started = time.monotonic()
    result, deltas = stream(endpoint_of(engine), timeout_s=2)
    assert result.finish_reason == "timeout" and deltas == [] and result.output_tokens == 0
    assert time.monotonic() - started < 4


def test_should_stop_cancels_the_stream(engine):
    engine.behaviour, engine.tokens = "slow", 20
    asked = []
    result, deltas = stream(endpoint_of(engine), DecodingConfig(max_new_tokens=20),
                            should_stop=lambda: asked.append(1) or len(asked) >= 2)
    assert result.finish_reason == "cancelled" and len(deltas) == 2
    assert engine.closed_early.wait(5)


@pytest.mark.parametrize(("behaviour", "said"), [
    ("no_usage", "did not report token counts"),
    ("no_stream", "streamed no text|broke off"),
])
def test_the_check_refuses_an_engine_the_arena_cannot_use(engine, behaviour, said):
    engine.behaviour = behaviour
    with pytest.raises(EngineError, match=said):
        endpoint_check(endpoint_of(engine), timeout_s=5)


def test_the_check_passes_a_working_engine(engine):
    check = endpoint_check(endpoint_of(engine), timeout_s=5)
    assert check.listed == ["scripted-model"] and check.text.startswith("tok0")
    assert (check.prompt_tokens, check.output_tokens) == (7, 5)


@pytest.mark.parametrize(("typed", "url"), [
    ("http://gpu-1:8000", "http://gpu-1:8000/v1"),
    ("http://gpu-1:8000/v1/", "http://gpu-1:8000/v1"),
    (" https://engine.example.org/v1 ", "https://engine.example.org/v1"),
])
def test_base_urls_are_normalised(typed, url):
    assert base_url_normalise(typed) == url


@pytest.mark.parametrize("typed", ["", "gpu-1:8000", "ftp://gpu-1/v1", "http://"])
def test_what_is_not_an_engine_address_is_refused(typed):
    with pytest.raises(EngineError, match="not an http"):
        base_url_normalise(typed)
