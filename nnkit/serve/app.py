"""The served Playground: one page, and a WebSocket per tab that trains that tab's experiment.

Protocol (JSON text messages). The page sends ``hello`` {hash, ack} once, then ``set`` {values:
{URL key: value}}, ``open`` {hash} (a pasted link), ``play``, ``pause``, ``step``, ``reset``,
``regenerate``, and ``ack`` after drawing each frame when its hello said ack: true (the next
stretch of training then waits for it). The server answers ``state`` {state, fragment,
warnings, playing} after every accepted change, ``error`` {message, state, fragment} for a refused one (the experiment is left as
it was), ``data`` {train, test} when the points change, and ``frame`` {epoch, losses, pictures}
after each stretch of training. Training and pictures run in a worker thread, one at a time per
tab, so the server keeps answering every tab while any of them trains.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources

import anyio.to_thread
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from nnkit.backend import available_backends
from nnkit.datasets import CLASSIFICATION_DATASETS, REGRESSION_DATASETS
from nnkit.serve.adapter import fresh_seed
from nnkit.serve.controls import (HIDDEN_ACTIVATIONS, LIMITS, OPTIMIZERS, ControlError, PageState,
                                  parse_state)
from nnkit.serve.experiment import Experiment

__all__ = ["create_app", "OriginGuard", "STATIC_FILES"]

# The only files the server reads: fixed names inside the package's static folder.
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/playground.css": ("playground.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
MAX_MESSAGE_CHARS = 16_384
MAX_TABS = 16
TRAIN_SECONDS_PER_FRAME = 0.03
MAX_EPOCHS_PER_FRAME = 10
PAGE_DRAW_TIMEOUT = 2.0


class OriginGuard:
    """ASGI middleware: only requests to one of ``hosts`` (the Host header, which defeats DNS
    rebinding) whose Origin, when sent, is that same host's page are let through. A WebSocket must
    carry the page's Origin (browsers always send it)."""

    def __init__(self, app, hosts, any_host: bool = False):
        self.app, self.hosts, self.any_host = app, frozenset(hosts), any_host

    def allows(self, scope) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not host or (not self.any_host and host not in self.hosts):
            return False
        origin = headers.get("origin")
        if origin is None:
            return scope["type"] == "http"
        return origin == f"http://{host}"

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self.allows(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accept answers 403
            await send({"type": "websocket.close", "code": 1008})
            return
        response = PlainTextResponse("refused: this page only answers its own origin on this machine",
                                     status_code=403)
        await response(scope, receive, send)


def _read_static():
    folder = resources.files("nnkit.serve") / "static"
    return {path: ((folder / name).read_bytes(), media) for path, (name, media) in STATIC_FILES.items()}


def create_app(initial_link: str = "", hosts=("127.0.0.1", "localhost"), any_host: bool = False,
               default_backend: str = "numpy"):
    """The ASGI app. ``initial_link`` opens in a tab whose URL has no hash; ``hosts`` are the Host
    header values the page is served under (host:port); ``any_host`` drops that check (an explicit
    non-loopback --host)."""
    initial = parse_state(initial_link, default_backend, fresh_seed=False)  # a bad link fails here
    static = _read_static()
    sessions: set = set()

    async def page(request):
        body, media = static[request.url.path]
        return Response(body, media_type=media, headers=SECURITY_HEADERS)

    async def socket(websocket: WebSocket):
        if len(sessions) >= MAX_TABS:
            await websocket.close(code=1013, reason=f"at most {MAX_TABS} tabs at once")
            return
        await websocket.accept()
        session = Session(websocket, initial, default_backend)
        sessions.add(session)
        try:
            await session.run()
        finally:
            sessions.discard(session)

    routes = [Route(path, page) for path in STATIC_FILES] + [WebSocketRoute("/ws", socket)]
    app = Starlette(routes=routes)
    app.state.sessions = sessions
    return OriginGuard(app, hosts, any_host)


def _choices() -> dict:
    return {"activation": list(HIDDEN_ACTIVATIONS), "backend": available_backends(),
            "optimizer": list(OPTIMIZERS), "dataset": list(CLASSIFICATION_DATASETS),
            "regDataset": list(REGRESSION_DATASETS), "limits": LIMITS}


class Session:
    """One tab: its experiment, its play state, and the loop that trains while it plays."""

    def __init__(self, websocket: WebSocket, initial: PageState, default_backend: str):
        self.ws, self.initial, self.default_backend = websocket, initial, default_backend
        self.experiment: Experiment | None = None
        self.playing = asyncio.Event()
        self.lock = asyncio.Lock()  # one worker-thread job per tab at a time
        self.send_lock = asyncio.Lock()
        self.sent = (None, 0)  # (history version, history entries) the page has
        # A page that says so in its hello acknowledges each frame it has drawn, and the next
        # stretch of training waits for that: no frames pile up behind a slow browser.
        self.paced = False
        self.drawn = asyncio.Event()
        self.drawn.set()

    async def send(self, message: dict) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message, allow_nan=False))

    async def receive(self):
        text = await self.ws.receive_text()
        if len(text) > MAX_MESSAGE_CHARS:
            raise ControlError(f"message too long ({len(text)} characters; at most {MAX_MESSAGE_CHARS})")
        try:
            message = json.loads(text)
        except ValueError:
            raise ControlError("a message must be a JSON object") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ControlError("a message must be a JSON object with a 'type'")
        return message

    async def in_worker(self, function, *args):
        async with self.lock:
            return await anyio.to_thread.run_sync(function, *args)

    async def run(self) -> None:
        runner = None
        try:
            await self.open_first()
            runner = asyncio.create_task(self.train_while_playing())
            while True:
                try:
                    message = await self.receive()
                    await self.handle(message)
                except ControlError as exc:
                    await self.refuse(str(exc))
                except WebSocketDisconnect:
                    raise
                except (ValueError, TypeError, ArithmeticError) as exc:  # the API refused it
                    await self.refuse(f"{message.get('type')}: {exc}")
        except WebSocketDisconnect:
            pass
        finally:
            self.playing.clear()
            if runner is not None:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)

    async def open_first(self) -> None:
        """The hello message's hash (or the server's link where the hash is empty) opens the tab."""
        warnings = []
        try:
            hello = await self.receive()
            link = hello.get("hash") if hello["type"] == "hello" else None
            self.paced = hello.get("ack") is True
            if not isinstance(link, str):
                raise ControlError("the first message must be {\"type\": \"hello\", \"hash\": \"...\"}")
            link = link.lstrip("#")
            state = parse_state(link, self.default_backend) if link else self.fresh_initial()
        except ControlError as exc:
            warnings.append(f"the link was refused ({exc}); opened the default experiment")
            state = self.fresh_initial()
        try:
            self.experiment = await self.in_worker(Experiment, state)
        except (ValueError, TypeError) as exc:  # checked, yet refused by the API while building
            warnings.append(f"the link could not be built ({exc}); opened the default experiment")
            self.experiment = await self.in_worker(Experiment, self.fresh_initial())
        await self.send_state(warnings, choices=True)
        await self.send(self.experiment.points())
        await self.send_frame()

    def fresh_initial(self) -> PageState:
        return parse_state(self.initial.fragment(), self.default_backend)

    async def handle(self, message: dict) -> None:
        kind = message["type"]
        experiment = self.experiment
        if kind in ("set", "open", "regenerate"):
            if kind == "set":
                state = experiment.state.with_values(message.get("values"))
            elif kind == "open":
                link = message.get("hash")
                if not isinstance(link, str):
                    raise ControlError("open: expected {\"hash\": \"...\"}")
                state = parse_state(link.lstrip("#"), self.default_backend)
            else:
                state = experiment.state.with_values({"seed": fresh_seed()})
            data_version = experiment.data_version
            try:
                await self.in_worker(experiment.update, state)
            except (ValueError, TypeError) as exc:  # what the API refused while building
                raise ControlError(str(exc)) from None
            await self.send_state(state.config.warnings)
            if experiment.data_version != data_version:
                await self.send(experiment.points())
            await self.send_frame()
        elif kind == "ack":
            self.drawn.set()
        elif kind == "play":
            self.playing.set()
            await self.send_state()
        elif kind == "pause":
            self.playing.clear()
            async with self.lock:  # a stretch of training under way ends and sends its frame first
                await self.send_state()
        elif kind == "step":
            self.playing.clear()
            await self.in_worker(experiment.train, 1)
            await self.send_state()
            await self.send_frame()
        elif kind == "reset":
            self.playing.clear()
            await self.in_worker(experiment.reset)
            await self.send_state()
            await self.send_frame()
        else:
            raise ControlError(f"unknown message type {kind!r}; expected hello, set, open, play, pause, "
                               "step, reset, regenerate or ack")

    async def send_state(self, warnings=(), choices: bool = False) -> None:
        state = self.experiment.state
        message = {"type": "state", "state": state.as_dict(), "fragment": state.fragment(),
                   "warnings": list(warnings), "playing": self.playing.is_set()}
        if choices:
            message["choices"] = _choices()
        await self.send(message)

    async def refuse(self, reason: str) -> None:
        state = self.experiment.state if self.experiment else self.initial
        await self.send({"type": "error", "message": reason, "state": state.as_dict(),
                         "fragment": state.fragment(), "playing": self.playing.is_set()})

    def _frame(self) -> dict:
        experiment = self.experiment
        version, length = self.sent
        since = length if version == experiment.history_version else 0
        frame = experiment.frame(since)
        if frame["history_version"] != version:  # a new curve, or one thinned while recording
            frame["history"] = list(experiment.history)
        frame["playing"] = self.playing.is_set()
        self.sent = (experiment.history_version, len(experiment.history))
        return frame

    async def send_frame(self) -> None:
        await self.send(await self.in_worker(self._frame))

    def _train_and_frame(self) -> dict:
        self.experiment.train_for(TRAIN_SECONDS_PER_FRAME, MAX_EPOCHS_PER_FRAME)
        return self._frame()

    async def train_while_playing(self) -> None:
        while True:
            await self.playing.wait()
            if self.paced:
                try:
                    await asyncio.wait_for(self.drawn.wait(), PAGE_DRAW_TIMEOUT)
                except asyncio.TimeoutError:
                    pass  # a page that stopped acknowledging (a hidden tab) still gets frames, slowly
                self.drawn.clear()
            try:
                # the frame is sent under the lock, so a pause answers after the last frame
                async with self.lock:
                    if not self.playing.is_set():
                        continue
                    frame = await anyio.to_thread.run_sync(self._train_and_frame)
                    await self.send(frame)
            except Exception as exc:  # noqa: BLE001 -- shown to the page, which stays usable
                self.playing.clear()
                await self.refuse(f"training stopped: {exc}")
