"""A local obs-websocket 5 server for tests: the real protocol, the real authentication, few requests.

It speaks what OBS's obs-websocket plugin speaks on the wire (protocol.md of obs-websocket 5.x):
``Hello`` (op 0, with ``authentication: {challenge, salt}`` when a password is set), ``Identify``
(op 1) checked against ``base64(sha256(base64(sha256(password + salt)) + challenge))`` — a wrong or
missing one is closed with code 4009 like OBS does — ``Identified`` (op 2), ``Event`` (op 5) only to
clients whose ``eventSubscriptions`` include the event's category, and ``Request`` /
``RequestResponse`` (ops 6 / 7) for the scene and audio-sync requests livefilter uses. Everything a
client sent is recorded, so tests check what livefilter asked OBS to do.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

OBS_WEBSOCKET_VERSION = "5.1.0"
RPC_VERSION = 1
EVENT_SCENES = 1 << 2
EVENT_GENERAL = 1 << 0
EVENT_ALL = (1 << 11) - 1  # obs-websocket's default EventSubscription::All
CLOSE_AUTH_FAILED = 4009
CLOSE_UNSUPPORTED_RPC = 4010


def auth_string(password: str, salt: str, challenge: str) -> str:
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()


@dataclass
class Client:
    ws: ServerConnection
    subscriptions: int


@dataclass
class FakeObs:
    password: str | None = None
    scenes: list[str] = field(default_factory=lambda: ["Scene"])
    inputs: dict[str, str] = field(default_factory=lambda: {"Mic/Aux": "pulse_input_capture"})
    port: int = 0
    program_scene: str = ""
    sync_offsets: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    identified: int = 0
    auth_failures: int = 0
    reply_overrides: dict = field(default_factory=dict)  # requestType -> responseData sent as is (bad replies)

    def __post_init__(self) -> None:
        self.program_scene = self.program_scene or self.scenes[0]
        self.sync_offsets = {name: 0 for name in self.inputs} | self.sync_offsets
        self._clients: list[Client] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle (from the test's thread) -------------------------------------------------------------
    def start(self) -> "FakeObs":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def main() -> None:
                # close_timeout: a client that reads only when it asks something (a request
                # connection) does not answer a close frame at once; OBS does not wait long either
                self._server = await serve(self._handle, "127.0.0.1", self.port, close_timeout=1)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()
                await self._server.serve_forever()

            try:
                loop.run_until_complete(main())
            except asyncio.CancelledError:
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-obs", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake OBS did not start")
        return self

    def stop(self) -> None:
        """Like OBS quitting: every connection closed (1001 Going Away), the port no longer open."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shutdown() -> None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)  # serve_forever then returns
        self._thread.join(10)
        self._clients = []

    def __enter__(self) -> "FakeObs":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, coro):
        assert self._loop is not None, "fake OBS is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- what OBS would do -----------------------------------------------------------------------------
    def switch_scene(self, name: str) -> None:
        """The streamer picks another scene: program scene changes, subscribed clients get the event."""
        self._call(self._set_scene(name))

    def drop_connections(self) -> None:
        """The connections break (no close handshake, like a network failure); the server stays."""
        async def drop() -> None:
            for c in list(self._clients):
                c.ws.transport.abort()
        self._call(drop())

    def send_raw(self, *messages: str | bytes) -> None:
        """Send frames exactly as given to every event subscriber (malformed events, binary frames)."""
        async def send() -> None:
            for c in list(self._clients):
                if c.subscriptions & EVENT_SCENES:
                    for m in messages:
                        try:
                            await c.ws.send(m)
                        except ConnectionClosed:
                            pass
        self._call(send())

    def flood_scenes(self, names: list[str], seconds: float) -> int:
        """Scene-change events as fast as the connection takes them for ``seconds``; returns how many."""
        async def flood() -> int:
            import time as _t

            n, end = 0, _t.monotonic() + seconds
            while _t.monotonic() < end:
                name = names[n % len(names)]
                self.program_scene = name
                try:  # a client that reads slowly pushes back (TCP): stop at the deadline all the same
                    await asyncio.wait_for(self._emit("CurrentProgramSceneChanged", EVENT_SCENES,
                                                      {"sceneName": name, "sceneUuid": "u"}),
                                           max(0.01, end - _t.monotonic()))
                except asyncio.TimeoutError:
                    break
                n += 1
                if n % 50 == 0:
                    await asyncio.sleep(0)
            return n
        return asyncio.run_coroutine_threadsafe(flood(), self._loop).result(seconds + 30)

    def connected_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def requests_of(self, request_type: str) -> list[dict]:
        with self._lock:
            return [d for t, d in self.requests if t == request_type]

    # -- the protocol ----------------------------------------------------------------------------------
    async def _set_scene(self, name: str) -> None:
        if name not in self.scenes:
            self.scenes.append(name)
        self.program_scene = name
        await self._emit("CurrentProgramSceneChanged", EVENT_SCENES, {"sceneName": name, "sceneUuid": str(uuid.uuid4())})

    async def _emit(self, event_type: str, intent: int, data: dict) -> None:
        msg = json.dumps({"op": 5, "d": {"eventType": event_type, "eventIntent": intent, "eventData": data}})
        for c in list(self._clients):
            if c.subscriptions & intent:
                try:
                    await c.ws.send(msg)
                except ConnectionClosed:
                    pass

    async def _handle(self, ws: ServerConnection) -> None:
        hello: dict = {"obsWebSocketVersion": OBS_WEBSOCKET_VERSION, "rpcVersion": RPC_VERSION}
        salt = challenge = ""
        if self.password is not None:
            salt, challenge = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            hello["authentication"] = {"challenge": challenge, "salt": salt}
        await ws.send(json.dumps({"op": 0, "d": hello}))
        try:
            identify = json.loads(await ws.recv())
        except ConnectionClosed:
            return
        if identify.get("op") != 1:
            await ws.close(4002, "Your request's `op` is not valid: expected Identify first.")
            return
        d = identify.get("d", {})
        if d.get("rpcVersion") != RPC_VERSION:
            await ws.close(CLOSE_UNSUPPORTED_RPC, "Unsupported RPC version.")
            return
        if self.password is not None and d.get("authentication") != auth_string(self.password, salt, challenge):
            with self._lock:
                self.auth_failures += 1
            await ws.close(CLOSE_AUTH_FAILED, "Authentication failed.")
            return
        await ws.send(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": RPC_VERSION}}))
        client = Client(ws, int(d.get("eventSubscriptions", EVENT_ALL)))
        with self._lock:
            self.identified += 1
            self._clients.append(client)
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("op") == 6:
                    await ws.send(json.dumps({"op": 7, "d": await self._request(msg["d"])}))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)

    async def _request(self, d: dict) -> dict:
        rtype, rid, data = d.get("requestType"), d.get("requestId"), d.get("requestData") or {}
        with self._lock:
            self.requests.append((rtype, data))
        ok = {"result": True, "code": 100}
        out: dict = {"requestType": rtype, "requestId": rid, "requestStatus": ok}
        if rtype == "GetVersion":
            out["responseData"] = {"obsVersion": "29.0.2", "obsWebSocketVersion": OBS_WEBSOCKET_VERSION,
                                   "rpcVersion": RPC_VERSION, "availableRequests": [], "platform": "debian"}
        elif rtype in self.reply_overrides:
            out["responseData"] = self.reply_overrides[rtype]
        elif rtype == "GetCurrentProgramScene":
            out["responseData"] = {"currentProgramSceneName": self.program_scene}
        elif rtype == "GetSceneList":
            out["responseData"] = {"currentProgramSceneName": self.program_scene,
                                   "scenes": [{"sceneName": s, "sceneIndex": i} for i, s in enumerate(self.scenes)]}
        elif rtype == "SetCurrentProgramScene":
            await self._set_scene(data["sceneName"])
        elif rtype == "GetInputList":
            out["responseData"] = {"inputs": [{"inputName": n, "inputKind": k, "unversionedInputKind": k}
                                              for n, k in self.inputs.items()]}
        elif rtype in ("GetInputAudioSyncOffset", "SetInputAudioSyncOffset"):
            name = data.get("inputName")
            if name not in self.inputs:
                out["requestStatus"] = {"result": False, "code": 600,
                                        "comment": f"No source was found by the name of `{name}`."}
            elif rtype == "GetInputAudioSyncOffset":
                out["responseData"] = {"inputAudioSyncOffset": self.sync_offsets[name]}
            else:
                offset = data.get("inputAudioSyncOffset")
                if not isinstance(offset, int) or not -950 <= offset <= 20000:
                    out["requestStatus"] = {"result": False, "code": 402,
                                            "comment": "The field value of `inputAudioSyncOffset` is out of range."}
                else:
                    self.sync_offsets[name] = offset
        else:
            out["requestStatus"] = {"result": False, "code": 204, "comment": "Your request type is not valid."}
        return out
