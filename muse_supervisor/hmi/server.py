"""The web HMI: a page served by the stack, live over a websocket, with verified identity.

Built on aiohttp: one well-kept package (aio-libs) that serves HTTP and websockets from the same
asyncio loop without a separate ASGI server, runs happily in a thread beside rclpy's executor,
and brings a test client. The page itself is plain HTML, CSS and JavaScript (``static/``), so
there is no front-end build step to set up on a robot or in CI.

Security model (docs/HMI.md):
- A login checks a name and secret against the accounts file (scrypt hashes); the server keeps
  the session and sets an HttpOnly, SameSite=Strict cookie holding only a random token.
- Every data request needs a live session; every action also needs the session's CSRF token in
  the ``X-CSRF-Token`` header, and the role ``operator``. The actor recorded is the session's
  account, never a name from the request. Refusals are answered 401/403 and recorded.
- Repeated failed logins from one address or for one name are slowed down (429).
- It listens on 127.0.0.1 unless configured otherwise; TLS belongs to a reverse proxy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from muse_supervisor.hmi.accounts import Account, AccountBook, Session, SessionBook
from muse_supervisor.hmi.actions import ActionError, OperatorAction, check_action, parse_action
from muse_supervisor.hmi.audit import AuditEntry, AuditLog
from muse_supervisor.hmi.fleet import FleetView
from muse_supervisor.hmi.report import IncidentReport, render

_LOG = logging.getLogger('muse_supervisor.hmi')
STATIC = Path(__file__).parent / 'static'
COOKIE = 'muse_session'
# Live updates: at most this often per client, and at least once a second so that the age of a
# robot's last data (and its staleness) keeps counting on the page.
_PUSH_PERIOD = 0.25
_REFRESH = 1.0
# Failed logins: more than this many in the window from one address or for one name -> 429.
_LOGIN_FAILURES = 5
_LOGIN_WINDOW = 60.0


@dataclass(frozen=True)
class ActionOutcome:
    """What came of an action: accepted or not, and the components' answer."""

    accepted: bool
    message: str


# Carries out an action for the verified account; blocking (ROS service calls), run off the loop.
Perform = Callable[[OperatorAction, Account], ActionOutcome]


class HmiServer:
    """Serves the page and its API from a thread of its own."""

    def __init__(
        self,
        fleet: FleetView,
        accounts: AccountBook,
        audit: AuditLog,
        perform: Perform,
        *,
        host: str = '127.0.0.1',
        port: int = 0,
        clock: Callable[[], float] = time.time,
        map_png: bytes | None = None,
        on_audit: Callable[[AuditEntry], None] | None = None,
    ) -> None:
        self.fleet, self.accounts, self.audit = fleet, accounts, audit
        self.sessions = SessionBook(clock)
        self._perform = perform
        self._host, self._port = host, port
        self._clock = clock
        self._map_png = map_png
        self._on_audit = on_audit
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.port = 0

    # -- running ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (the tests serve it with aiohttp's test server)."""
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes([
            web.get('/', self._page),
            web.get('/static/{name}', self._static),
            web.post('/api/login', self._login),
            web.post('/api/logout', self._logout),
            web.get('/api/session', self._session_info),
            web.get('/api/state', self._state),
            web.get('/api/world', self._world),
            web.get('/api/map.png', self._map),
            web.get('/api/frame/{robot:.*}', self._frame),
            web.post('/api/action', self._action),
            web.get('/ws', self._websocket),
            web.get('/report/{incident_id:.+}', self._report),
        ])  # fmt: skip
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _close_sockets(self, app: web.Application) -> None:
        """Close open websockets, whose handlers would otherwise hold the shutdown."""
        for socket in list(self._sockets):
            await socket.close(message=b'server stopping')

    def start(self, timeout: float = 10.0) -> int:
        """Start serving in a thread; return the port (the one bound when ``port`` was 0)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as error:
                failure.append(error)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_site())
            loop.close()

        self._thread = threading.Thread(target=serve, name='hmi-server', daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError(f'the HMI server did not start within {timeout} s')
        if failure:
            raise RuntimeError(f'the HMI server cannot listen on {self._host}:{self._port}: '
                               f'{failure[0]}')  # fmt: skip
        return self.port

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # the bound socket: the only way to learn the port chosen for 0
        sockets = getattr(server, 'sockets', None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def _stop_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and join the server's thread."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10.0)
            if thread.is_alive():
                _LOG.error('the HMI server thread did not stop within 10 s')
                return
        self._loop = self._thread = None

    # -- sessions -----------------------------------------------------------------------------

    def _session(self, request: web.Request) -> Session | None:
        return self.sessions.check(request.cookies.get(COOKIE))

    def _refuse(self, request: web.Request, action: str, status: int, message: str,
                session: Session | None = None) -> web.Response:  # fmt: skip
        self._record(AuditEntry(
            stamp=self._clock(), actor=session.account.name if session else '',
            role=session.account.role.value if session else '', action=action, accepted=False,
            message=message, remote=request.remote or '',
        ))  # fmt: skip
        return web.json_response({'error': message}, status=status)

    def _record(self, entry: AuditEntry) -> None:
        self.audit.add(entry)
        if not entry.accepted:
            _LOG.warning('refused %s from %s (%s): %s', entry.action, entry.actor or 'nobody',
                         entry.remote, entry.message)  # fmt: skip
        if self._on_audit is not None:
            self._on_audit(entry)

    def _require(self, request: web.Request, what: str) -> Session | web.Response:
        session = self._session(request)
        if session is None:
            return self._refuse(request, what, 401, 'no valid session: log in first')
        return session

    # -- handlers -----------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / 'index.html', headers=_NO_CACHE)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info['name']
        path = STATIC / name
        if '/' in name or name.startswith('.') or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=_NO_CACHE)

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            name, secret = str(body['name']), str(body['secret'])
        except (ValueError, KeyError, TypeError):
            return web.json_response({'error': 'expected {"name", "secret"}'}, status=400)
        remote = request.remote or ''
        now = self._clock()
        keys = (f'name:{name}', f'remote:{remote}')
        if any(self._recent_failures(key, now) >= _LOGIN_FAILURES for key in keys):
            return self._refuse(request, 'login', 429,
                                f'too many failed logins for {name!r}: wait a minute')  # fmt: skip
        # Counted before the (slow) check, so that guesses sent in parallel are counted too;
        # taken back when the secret was right.
        for key in keys:
            self._failures[key].append(now)
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, self.accounts.verify, name, secret)
        if account is None:
            return self._refuse(request, 'login', 401, f'wrong name or secret (for {name!r})')
        for key in keys:
            if now in self._failures[key]:
                self._failures[key].remove(now)
        session = self.sessions.open(account)
        self._record(AuditEntry(stamp=now, actor=account.name, role=account.role.value,
                                action='login', accepted=True, message='logged in',
                                remote=remote))  # fmt: skip
        response = web.json_response(_who(session))
        response.set_cookie(COOKIE, session.token, httponly=True, samesite='Strict', path='/',
                            secure=request.secure)  # fmt: skip
        return response

    def _recent_failures(self, key: str, now: float) -> int:
        for old in [k for k, times in self._failures.items() if not times or
                    now - times[-1] > _LOGIN_WINDOW]:  # fmt: skip
            del self._failures[old]  # names tried once long ago are forgotten
        failures = self._failures[key]
        while failures and now - failures[0] > _LOGIN_WINDOW:
            failures.popleft()
        return len(failures)

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is not None:
            self.sessions.close(session.token)
            self._record(AuditEntry(stamp=self._clock(), actor=session.account.name,
                                    role=session.account.role.value, action='logout',
                                    accepted=True, message='logged out',
                                    remote=request.remote or ''))  # fmt: skip
        response = web.json_response({'ok': True})
        response.del_cookie(COOKIE, path='/')
        return response

    async def _session_info(self, request: web.Request) -> web.Response:
        session = self._session(request)  # the page asks on load: not a refusal to record
        if session is None:
            return web.json_response({'error': 'not logged in'}, status=401)
        return web.json_response(_who(session))

    async def _state(self, request: web.Request) -> web.Response:
        session = self._require(request, 'view state')
        if isinstance(session, web.Response):
            return session
        return web.json_response(self._state_data())

    def _state_data(self) -> dict[str, Any]:
        state = self.fleet.snapshot()
        state['audit'] = [entry.to_dict() for entry in self.audit.recent(30)]
        return state

    async def _world(self, request: web.Request) -> web.Response:
        session = self._require(request, 'view world')
        if isinstance(session, web.Response):
            return session
        return web.json_response(self.fleet.world)

    async def _map(self, request: web.Request) -> web.Response:
        session = self._require(request, 'view map')
        if isinstance(session, web.Response):
            return session
        if self._map_png is None:
            raise web.HTTPNotFound()
        return web.Response(body=self._map_png, content_type='image/png')

    async def _frame(self, request: web.Request) -> web.Response:
        session = self._require(request, 'view camera')
        if isinstance(session, web.Response):
            return session
        frame = self.fleet.frame(request.match_info['robot'])
        if frame is None:
            raise web.HTTPNotFound()
        return web.Response(body=frame.jpeg, content_type='image/jpeg', headers=_NO_CACHE)

    async def _action(self, request: web.Request) -> web.Response:
        session = self._require(request, 'action')
        if isinstance(session, web.Response):
            return session
        if request.headers.get('X-CSRF-Token', '') != session.csrf:
            return self._refuse(request, 'action', 403, 'missing or wrong X-CSRF-Token', session)
        try:
            body = await request.json()
        except ValueError:
            return self._refuse(request, 'action', 400, 'the body is not JSON', session)
        try:
            action = parse_action(body)
            check_action(action, session.account.role, self.fleet)
        except ActionError as error:
            what = body.get('action', 'action') if isinstance(body, dict) else 'action'
            return self._refuse(request, str(what), error.status, str(error), session)
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(None, self._perform, action, session.account)
        except Exception as error:
            outcome = ActionOutcome(False, f'failed: {error!r}')
        self._record(AuditEntry(
            stamp=self._clock(), actor=session.account.name, role=session.account.role.value,
            action=action.kind.value, accepted=outcome.accepted, message=outcome.message,
            robot=action.robot, incident_id=action.incident_id, plan_id=action.plan_id,
            plan_digest=action.plan_digest,
            reason=action.reason or action.assignee, remote=request.remote or '',
        ))  # fmt: skip
        return web.json_response(
            {'accepted': outcome.accepted, 'message': outcome.message},
            status=200 if outcome.accepted else 409,
        )

    async def _report(self, request: web.Request) -> web.Response:
        session = self._require(request, 'view report')
        if isinstance(session, web.Response):
            return session
        robot, incident_id = request.query.get('robot', ''), request.match_info['incident_id']
        data = self.fleet.report_data(robot, incident_id)
        if data is None:
            raise web.HTTPNotFound(text=f'no incident {incident_id!r} of robot {robot!r} here '
                                        '(older ones: muse-supervisor report)')  # fmt: skip
        entries = [e.to_dict() for e in self.audit.recent(500) if e.incident_id == incident_id]
        report = IncidentReport(
            data['incident'], data['proposals'], actions=entries, outcomes=data['outcomes'],
            frame=data['frame'], frame_caption='The latest camera frame (the key frame the '
            'evidence cites is in the incident recording).', source=f'the HMI of {robot}',
        )  # fmt: skip
        page = render(report, self.fleet.world, self._map_png)
        return web.Response(text=page, content_type='text/html', headers=_NO_CACHE)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request, 'live updates')
        if isinstance(session, web.Response):
            return session
        socket = web.WebSocketResponse(heartbeat=20.0)
        await socket.prepare(request)
        self._sockets.add(socket)
        sent_version, sent_at = -1, 0.0
        reader = asyncio.ensure_future(socket.receive())
        try:
            while not socket.closed:
                if self.sessions.check(session.token) is None:
                    await socket.close(message=b'session ended')
                    break
                version, now = self.fleet.version(), time.monotonic()
                if version != sent_version or now - sent_at >= _REFRESH:
                    await socket.send_str(json.dumps(self._state_data()))
                    sent_version, sent_at = version, now
                done, _ = await asyncio.wait({reader}, timeout=_PUSH_PERIOD)
                if done:
                    message = reader.result()
                    if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                        WSMsgType.ERROR):  # fmt: skip
                        break
                    reader = asyncio.ensure_future(socket.receive())
        finally:
            reader.cancel()
            self._sockets.discard(socket)
        return socket


_NO_CACHE = {'Cache-Control': 'no-store'}


def _who(session: Session) -> dict[str, str]:
    return {'name': session.account.name, 'role': session.account.role.value,
            'csrf': session.csrf}  # fmt: skip
