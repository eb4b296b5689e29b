"""A scripted OpenAI-compatible engine for the faults a real one shows only by accident: a real HTTP
server (stdlib, in a thread) whose chat completions stream, refuse, break off, stall or send garbage
on demand. The happy path is tested against a real engine (`transformers serve`, tests/conftest.py)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedEngine:
    """`behaviour` (settable per test): ok, status:<code>, garbage, break, slow, stall, no_usage, no_stream."""

    def __init__(self, served: str = "scripted-model", tokens: int = 5) -> None:
        self.served, self.tokens, self.behaviour = served, tokens, "ok"
        self.requests: list[dict] = []  # what each chat request asked: its JSON and its Authorization header
        self.closed_early = threading.Event()  # the client closed a stream before its end
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    return self._json(200, {"object": "list", "data": [{"id": engine.served, "object": "model"}]})
                return self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                engine.requests.append({"json": body, "authorization": self.headers.get("Authorization", "")})
                behaviour = engine.behaviour
                if behaviour.startswith("status:"):
                    code = int(behaviour.split(":")[1])
                    return self._json(code, {"error": {"message": f"scripted {code}", "code": code}})
                if body.get("model") != engine.served:
                    return self._json(404, {"error": {"message": f"model {body.get('model')} not found"}})
                if behaviour == "no_stream":
                    return self._json(200, {"id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})
                if behaviour == "stall":
                    time.sleep(30)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self._stream(behaviour, min(int(body.get("max_tokens") or engine.tokens), engine.tokens))
                except (BrokenPipeError, ConnectionResetError):
                    engine.closed_early.set()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _event(self, payload: dict | str) -> None:
                text = payload if isinstance(payload, str) else json.dumps(payload)
                self._chunk(f"data: {text}\n\n".encode())

            def _stream(self, behaviour: str, count: int) -> None:
                def delta(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
                    choice = {"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}
                    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": engine.served,
                            "choices": [choice], **({"usage": usage} if usage else {})}

                for number in range(count):
                    if behaviour == "break" and number == 2:
                        self.connection.shutdown(socket.SHUT_RDWR)  # killed mid-stream: no end of the body
                        return
                    if behaviour == "garbage" and number == 1:
                        self._event("{this is not json")
                    self._event(delta(f"tok{number} "))
                    if behaviour == "slow":
                        time.sleep(1.0)
                usage = None if behaviour == "no_usage" else {
                    "prompt_tokens": 7, "completion_tokens": count, "total_tokens": 7 + count}
                self._event(delta(finish="length" if count == int(engine.tokens) else "stop", usage=usage))
                self._event("[DONE]")
                self._chunk(b"")

            def _json(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
