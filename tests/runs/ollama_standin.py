"""A stand-in for an Ollama server on 127.0.0.1 that speaks the parts of its HTTP API the judge uses:
`GET /api/tags` (the pulled models) and `POST /api/chat` (non-streaming), with Ollama's JSON shapes and its
404 for a model that is not pulled. What it replies is up to the test: `reply(prompt) -> (delay_s, text)`.

It also speaks the OpenAI chat API as llama.cpp's `llama-server` and vLLM do (`GET /v1/models`,
`POST /v1/chat/completions`, their error shape), for `tutor run judge --api openai`; `api_key` makes those
routes answer 401 without `Authorization: Bearer <api_key>`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class OllamaStandIn:
    def __init__(self, reply: Callable[[str], tuple[float, str]], models=("llama3:latest",),
                 api_key: str | None = None):
        self.reply = reply
        self.models = list(models)
        self.api_key = api_key
        self.chats: list[dict] = []  # every /api/chat request body, in order
        self.tags_calls = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def _openai_refused(self) -> bool:
                if standin.api_key and self.headers.get("Authorization") != f"Bearer {standin.api_key}":
                    self._json(401, {"error": {"message": "Invalid API Key", "type": "authentication_error",
                                               "code": 401}})
                    return True
                return False

            def do_GET(self):
                if self.path == "/v1/models":
                    if self._openai_refused():
                        return
                    standin.tags_calls += 1
                    return self._json(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "created": 1716200000, "owned_by": "llamacpp"}
                        for m in standin.models]})
                if self.path != "/api/tags":
                    return self._json(404, {"error": "not found"})
                standin.tags_calls += 1
                self._json(200, {"models": [
                    {"name": m, "model": m, "modified_at": "2024-05-20T10:00:00.000000+00:00", "size": 4661224676,
                     "digest": "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1",
                     "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                                 "parameter_size": "8.0B", "quantization_level": "Q4_0"}}
                    for m in standin.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path == "/v1/chat/completions":
                    return self._openai_chat(body)
                if self.path != "/api/chat":
                    return self._json(404, {"error": "not found"})
                standin.chats.append(body)
                model = body.get("model", "")
                if model not in standin.models and f"{model}:latest" not in standin.models:
                    return self._json(404, {"error": f"model \"{model}\" not found, try pulling it first"})
                delay, text = standin.reply(body["messages"][-1]["content"])
                time.sleep(delay)
                self._json(200, {"model": model, "created_at": "2024-05-20T10:00:01.000000Z",
                                 "message": {"role": "assistant", "content": text}, "done_reason": "stop",
                                 "done": True, "total_duration": 1000, "load_duration": 10,
                                 "prompt_eval_count": 50, "prompt_eval_duration": 100, "eval_count": 3,
                                 "eval_duration": 200})

            def _openai_chat(self, body: dict) -> None:
                if self._openai_refused():
                    return
                standin.chats.append(body)
                model = body.get("model", "")
                if model not in standin.models:
                    return self._json(404, {"error": {"message": f"The model `{model}` does not exist.",
                                                      "type": "NotFoundError", "code": 404}})
                delay, text = standin.reply(body["messages"][-1]["content"])
                time.sleep(delay)
                self._json(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1716200001,
                                 "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                              "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OllamaStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (a server that is down)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
