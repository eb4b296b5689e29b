"""Talking to an inference engine's OpenAI-compatible API (vLLM, SGLang, TGI, llama.cpp's server,
`transformers serve`). No Django imports.

One HTTP client library: the `openai` SDK (on httpx2), which parses the server-sent events of a
streamed chat completion and takes connect/read timeouts. Every failure is an `EngineError` whose
message a person can act on (the arena shows it in the side's pane and the admin's preparation error).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
import openai

if TYPE_CHECKING:  # the web process validates base URLs here without loading torch (workers.generation)
    from workers.generation import DecodingConfig, GenerationResult

# Connecting to an engine on its own host takes milliseconds; a longer wait means it is not there.
CONNECT_TIMEOUT_S = 5.0


class EngineError(Exception):
    """An engine refused or failed a request. The message is for the visitor (the side's pane): it names
    neither the engine's address nor the served model, which would tell who answered before the vote.
    `detail` is for the operator (the log, a preparation's error): with the address and what the engine said."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


def _failed(endpoint: Endpoint, what: str, extra: str = "") -> EngineError:
    """"The engine serving this model <what>." for the visitor; the operator's sentence names the engine."""
    return EngineError(f"The engine serving this model {what}.", f"The engine at {endpoint.base_url} {what}{extra}.")


@dataclass(frozen=True)
class Endpoint:
    """Where an engine serves one model. `api_key_env` names an environment variable of the worker
    that holds the key (the key itself is never stored with the model)."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1
    served_model: str  # the id the engine lists under GET /v1/models
    api_key_env: str = ""

    def api_key(self) -> str:
        if not self.api_key_env:
            return "none"  # the SDK insists on a key; engines without authentication ignore it
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise EngineError(
                f"The environment variable {self.api_key_env} (the engine's API key) is not set on this worker."
            )
        return key


@dataclass(frozen=True)
class EndpointCheck:
    """What preparation found: the models the engine lists and a short streamed answer."""

    listed: list[str]
    text: str
    prompt_tokens: int
    output_tokens: int
    seconds: float


def base_url_normalise(url: str) -> str:
    """The API root the SDK wants ("…/v1"), from what an operator types (with or without /v1 and a
    trailing slash). Raises EngineError for what is not an http(s) URL."""
    url = url.strip().rstrip("/")
    parsed = httpx2.URL(url) if url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise EngineError(f"'{url}' is not an http:// or https:// address of an engine (e.g. http://gpu-1:8000/v1).")
    return url if url.endswith("/v1") else f"{url}/v1"


def _client(endpoint: Endpoint, read_timeout_s: float) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=endpoint.base_url, api_key=endpoint.api_key(), max_retries=0,
        timeout=httpx2.Timeout(read_timeout_s, connect=min(CONNECT_TIMEOUT_S, read_timeout_s)),
    )


def engine_error(error: Exception, endpoint: Endpoint, timeout_s: float | None = None) -> EngineError:
    """The sentences for a failure of the SDK, the transport or the stream's content."""
    if isinstance(error, EngineError):
        return error
    if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
        return _failed(endpoint, "did not answer" + (f" within {timeout_s:.0f} s" if timeout_s is not None else ""))
    if isinstance(error, openai.APIConnectionError):
        return _failed(endpoint, "cannot be reached", " (is it running, and is the address right?)")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        key = f"the key in {endpoint.api_key_env}" if endpoint.api_key_env else "no API key (none is configured)"
        return _failed(endpoint, f"refused the request ({error.status_code})", f": it was sent {key}")
    if isinstance(error, openai.NotFoundError):
        return _failed(endpoint, "does not serve it (404)", f": the served model id is '{endpoint.served_model}'")
    if isinstance(error, openai.BadRequestError):
        said = " ".join(str(getattr(error, "message", "") or "").split())[:200]
        return _failed(endpoint, "refused the request (400)", f": {said}" if said else "")
    if isinstance(error, openai.APIStatusError):
        return _failed(endpoint, f"failed the request ({error.status_code})")
    if isinstance(error, json.JSONDecodeError | ValueError | KeyError | TypeError | AttributeError | IndexError):
        return _failed(endpoint, "sent a stream that is not OpenAI-compatible JSON")
    if isinstance(error, openai.APIError | httpx2.HTTPError):
        return _failed(endpoint, "broke off the answer", f" ({type(error).__name__})")
    return _failed(endpoint, "failed", f" ({type(error).__name__}: {error})")


def _sampling_arguments(decoding: DecodingConfig) -> dict:
    """The OpenAI request's decoding fields: greedy is temperature 0; top_k is not part of the API."""
    if decoding.method == "greedy" or decoding.temperature <= 0:
        return {"temperature": 0.0}
    if decoding.method != "sampling":
        raise EngineError(f"An engine cannot decode with {decoding.method} search through the OpenAI API.")
    arguments = {"temperature": decoding.temperature, "top_p": decoding.top_p}
    if decoding.seed is not None:
        arguments["seed"] = decoding.seed
    return arguments


def endpoint_stream(
    endpoint: Endpoint,
    messages: list[dict[str, str]],
    decoding: DecodingConfig,
    *,
    deadline: float,
    on_token: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GenerationResult:
    """Stream one chat completion. Each content delta goes to `on_token` (one delta is counted as one
    token until the engine's `usage` says how many there were). The stream is closed when the deadline
    passes ("timeout") or `should_stop()` is true ("cancelled"); the engine then stops generating.
    Raises EngineError when the engine refuses, fails, sends what is not a chat-completion stream or
    breaks off (text already passed to `on_token` stays with the caller)."""
    from workers.generation import GenerationResult

    started = time.monotonic()
    remaining = deadline - started
    if remaining <= 0:
        raise EngineError("The generation deadline passed before the engine was asked.")
    text, pieces, ttft, finish = "", 0, None, None
    prompt_tokens = output_tokens = None
    stream = None
    try:
        stream = _client(endpoint, remaining).chat.completions.create(
            model=endpoint.served_model, messages=messages, stream=True, max_tokens=decoding.max_new_tokens,
            stream_options={"include_usage": True}, **_sampling_arguments(decoding),
        )
        for chunk in stream:
            if chunk.usage is not None:
                prompt_tokens, output_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices or ():
                delta = choice.delta.content if choice.delta is not None else None
                if delta:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    text += delta
                    pieces += 1
                    if on_token is not None:
                        on_token(delta)
                if choice.finish_reason:
                    finish = "length" if choice.finish_reason == "length" else "stop"
            if time.monotonic() >= deadline:
                finish = "timeout"
                break
            if should_stop is not None and should_stop():
                finish = "cancelled"
                break
    except Exception as error:  # noqa: BLE001 - every transport or content failure becomes a sentence
        failure = engine_error(error, endpoint, remaining)
        timed_out = isinstance(error, openai.APITimeoutError | httpx2.TimeoutException)
        if stream is not None and not timed_out and isinstance(error, openai.APIConnectionError | httpx2.HTTPError):
            failure = _failed(endpoint, "broke off the answer", " (the connection closed mid-stream)")
        if timed_out and text:
            finish = "timeout"  # the read timeout is the deadline: what arrived stands
        elif time.monotonic() >= deadline:
            finish = "timeout"
        else:
            raise failure from error
    finally:
        if stream is not None:
            stream.close()  # closing the connection makes the engine drop the request
    if finish is None:  # every OpenAI stream ends with a finish_reason: this one was cut
        raise _failed(endpoint, "broke off the answer", " (its stream ended without a finish_reason)")
    return GenerationResult(
        text=text,
        prompt_tokens=int(prompt_tokens or 0),
        # the engine's count when it gave one (a delta may hold several tokens), else one per delta
        output_tokens=int(output_tokens if output_tokens is not None else pieces),
        time_to_first_token_s=ttft,
        duration_s=time.monotonic() - started,
        finish_reason=finish,
    )


SMOKE_MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]


def endpoint_check(endpoint: Endpoint, *, timeout_s: float = 120.0) -> EndpointCheck:
    """What preparation asks of an engine: it lists the model (GET /v1/models), streams a short chat
    completion, and says how many tokens it used (`usage`). Raises EngineError naming what failed."""
    started = time.monotonic()
    try:
        listed = [model.id for model in _client(endpoint, min(timeout_s, 30.0)).models.list()]
    except Exception as error:  # noqa: BLE001
        raise engine_error(error, endpoint, min(timeout_s, 30.0)) from error
    if endpoint.served_model not in listed:
        shown = ", ".join(listed[:5]) + (" …" if len(listed) > 5 else "") if listed else "nothing"
        raise _failed(endpoint, "does not serve it", f": it lists {shown}, not '{endpoint.served_model}'")
    from workers.generation import DecodingConfig

    deltas: list[str] = []
    result = endpoint_stream(
        endpoint, SMOKE_MESSAGES, DecodingConfig(method="greedy", max_new_tokens=8),
        deadline=time.monotonic() + timeout_s, on_token=deltas.append,
    )
    if result.finish_reason == "timeout":
        raise EngineError(
            f"The engine at {endpoint.base_url} did not finish an 8-token answer within {timeout_s:.0f} s."
        )
    if not deltas:
        raise EngineError(
            f"The engine at {endpoint.base_url} streamed no text for '{endpoint.served_model}' (does it stream "
            "chat completions?)."
        )
    if not result.prompt_tokens:
        raise EngineError(
            f"The engine at {endpoint.base_url} did not report token counts (`usage`) for a streamed answer; "
            "the arena needs them to split energy and report J/token."
        )
    return EndpointCheck(
        listed=listed, text=result.text, prompt_tokens=result.prompt_tokens, output_tokens=result.output_tokens,
        seconds=time.monotonic() - started,
    )
