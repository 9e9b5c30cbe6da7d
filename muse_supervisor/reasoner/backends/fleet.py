"""The ``openai`` backend: plans from an OpenAI-compatible inference server that a fleet shares.

Why a server: one inference tier (vLLM, SGLang, llama.cpp's server, Ollama) serves many robots
with a model no robot could hold; the robot keeps only this client. They all speak the same chat
API, so one client covers them, except for how structured output is spelled (see
``schema_spelling``).

Why the guards: the server is a remote dependency that can be slow, down or wrong, while the
reasoner has a deadline. So every call is bounded by the time left; only failures a retry can
cure (timeouts, lost connections, 5xx, 408/429) are retried, with backoff and never past the
deadline; and a circuit breaker stops calling a server that keeps failing, so that the reasoner
falls back to the SOPs at once (``Reasoner.propose``) instead of waiting out a timeout for every
incident. Whatever the model answers is constrained to the plan schema, read by
:func:`~muse_supervisor.reasoner.backends.model.read_plan` and then validated by the gate's own
validator like every other backend's plans.

One pass: the prompt shared by the model backends (the reading of the evidence, the facts, the
procedures, the evidence quoted as data); in Thinking, up to ``tool_rounds`` rounds in which the
model may call the reasoner's tools (every call runs through the :class:`ToolBox`, so it is
budgeted, checked and traced, and a refusal is reported back to the model); then the plan
request, constrained to the schema: one call at temperature 0 in Instant, ``moment.candidates``
calls in parallel with different seeds in Thinking.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import openai

from muse_supervisor.reasoner.backends import model
from muse_supervisor.reasoner.backends.model import CallMetrics, ModelAnswerError
from muse_supervisor.reasoner.core import Candidate, Moment
from muse_supervisor.reasoner.tools import ToolBox, ToolError

API_KEY_ENV = 'MUSE_OPENAI_API_KEY'
SPELLINGS = ('auto', 'json_schema', 'json_object')
MIN_CALL = 0.005  # s: with less time than this left, no call is started
SLACK = 0.005  # s: how long past their deadline Thinking waits for its parallel calls
RESERVE = 0.015  # s: of a pass's deadline, kept for the reasoner's work after the model
TOOL_TOKENS = 256  # completion tokens of a tool round: a call's arguments, not a plan
RETRY_STATUS = frozenset({408, 409, 429})  # besides every 5xx: worth another try
# What servers answer a response_format they do not spell: llama.cpp's server gives 500.
SPELLING_STATUS = frozenset({400, 422, 500, 501})
# What the gate refuses in a text argument (control, format and line/paragraph separators),
# and lone surrogates, which no UTF-8 message carries.
_UNPRINTABLE = frozenset({'Cc', 'Cf', 'Zl', 'Zp', 'Cs'})
_T = TypeVar('_T')


@dataclass(frozen=True)
class _Pass:
    """What the plan requests of one pass share."""

    moment: Moment
    deadline: float  # the pass's, less the reserve
    messages: list[dict[str, Any]]
    schema: dict[str, Any]


class BackendUnavailableError(RuntimeError):
    """No call was made: the circuit is open, or the deadline leaves no time for one."""


class CircuitBreaker:
    """Closed; open after ``failures`` consecutive failures; half-open ``reset`` s later.

    While open, :meth:`allow` is false, so no connection is attempted and a dead server costs
    an incident nothing. Half-open, calls go through again and the first outcome decides: a
    success closes the circuit, a failure opens it for another ``reset``. Thread-safe: the
    parallel calls of a Thinking pass report to the same breaker.
    """

    def __init__(self, failures: int, reset: float, clock: Callable[[], float]) -> None:
        if failures < 1:
            raise ValueError(f'circuit_failures must be at least 1, got {failures}')
        if not reset > 0:
            raise ValueError(f'circuit_reset must be positive seconds, got {reset}')
        self.failures, self.reset, self._clock = failures, reset, clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened: float | None = None
        self.openings = 0  # how often the circuit opened, for monitoring

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        with self._lock:
            return self._state()

    @property
    def consecutive(self) -> int:
        """Consecutive failures so far."""
        return self._consecutive

    def allow(self) -> bool:
        """Whether a call may be made now."""
        with self._lock:
            return self._state() != 'open'

    def retry_in(self) -> float:
        """Seconds until the circuit half-opens (0 when it is not open)."""
        with self._lock:
            if self._opened is None:
                return 0.0
            return max(0.0, self._opened + self.reset - self._clock())

    def record(self, ok: bool) -> None:
        """Report one call's outcome."""
        with self._lock:
            if ok:
                self._consecutive, self._opened = 0, None
                return
            self._consecutive += 1
            state = self._state()
            if state == 'half_open' or (state == 'closed' and self._consecutive >= self.failures):
                self._opened = self._clock()
                self.openings += 1

    def _state(self) -> str:
        if self._opened is None:
            return 'closed'
        return 'half_open' if self._clock() - self._opened >= self.reset else 'open'


class OpenAIBackend:
    """Plans from an OpenAI-compatible chat endpoint, constrained to the plan schema.

    ``base_url``: the endpoint, e.g. ``http://host:8000/v1``; ``model``: the model's name there
    (empty: the first model the endpoint lists, for a server that serves one). ``api_key``:
    default from ``MUSE_OPENAI_API_KEY``, else ``'none'`` (local servers want none).
    ``timeout``: seconds per call, and never more than the deadline leaves. ``retries``: further
    attempts after a transient failure, ``backoff`` s, doubling; the client's own retries are
    off, because llama.cpp's server answers a bad request with 500, which it would retry.
    ``circuit_failures`` consecutive failures (a call's full ``timeout``, a connection error,
    5xx, an unparsable answer) open the circuit for ``circuit_reset`` s, measured on ``clock``;
    a call that the pass's deadline cut short is not counted (see :meth:`_call`).

    ``schema_spelling``: OpenAI spells schema-constrained output
    ``{"type": "json_schema", "json_schema": {...}}``; llama.cpp's server needs
    ``{"type": "json_object", "schema": S}`` and answers 500 to the other. ``auto`` tries
    ``json_schema`` first, falls back to ``json_object`` when the server refuses it, and
    remembers the one the server took (:attr:`spelling`).

    ``tool_rounds`` (Thinking) and ``instant_tool_rounds`` (Instant: 0, one call): rounds in
    which the model may call tools before the plan request. ``tool_choice``: ``auto``, ``none``,
    ``required``, or a tool's name, forced in the first round (an unknown name: ``auto``;
    servers such as llama.cpp's ignore ``auto`` unless started with a function-calling chat
    format, but honour a forced choice). A tool's result is shown to the model in at most
    about ``tool_result_chars`` characters: the prompt, the results and ``max_tokens`` must
    fit the served model's context.

    ``reserve``: seconds of each pass's deadline that the model's calls leave to the
    reasoner (the SOP fallback, ranking, the summary), so that a pass whose call is cut by the
    deadline still ends in time.

    ``send_images``: show the newest ``max_images`` key frames as JPEG data URLs of at most
    ``image_side`` pixels a side and ``image_bytes`` characters. Only for an endpoint that serves a
    vision-language model: a text-only server renders the base64 into the prompt as text.
    """

    name = 'openai'

    def __init__(
        self,
        base_url: str,
        model: str = '',
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 1,
        backoff: float = 0.05,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int = 0,
        tool_rounds: int = 2,
        instant_tool_rounds: int = 0,
        tool_choice: str = 'auto',
        tool_result_chars: int = 2000,
        circuit_failures: int = 3,
        circuit_reset: float = 30.0,
        schema_spelling: str = 'auto',
        send_images: bool = False,
        max_images: int = 1,
        image_side: int = 512,
        image_bytes: int = 150_000,
        metrics_size: int = 1000,
        workers: int = 16,
        reserve: float = RESERVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url:
            raise ValueError('the openai backend needs a base_url, e.g. http://host:8000/v1')
        if schema_spelling not in SPELLINGS:
            raise ValueError(f'schema_spelling {schema_spelling!r}: expected one of {SPELLINGS}')
        if not timeout > 0 or retries < 0 or backoff < 0 or max_tokens < 1:
            raise ValueError('timeout must be positive, retries, backoff and max_tokens not')
        if tool_rounds < 0 or instant_tool_rounds < 0 or max_images < 0 or reserve < 0:
            raise ValueError('tool rounds, max_images and reserve must not be negative')
        if workers < 1:
            raise ValueError(f'workers must be at least 1, got {workers}')
        self.base_url, self.model = base_url, model
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_tokens, self.temperature, self.seed = max_tokens, temperature, seed
        self.tool_rounds, self.instant_tool_rounds = tool_rounds, instant_tool_rounds
        self.tool_choice, self.tool_result_chars = tool_choice, tool_result_chars
        self.schema_spelling = schema_spelling
        self.send_images, self.max_images = send_images, max_images
        self.image_side, self.image_bytes = image_side, image_bytes
        self.reserve = reserve
        self.breaker = CircuitBreaker(circuit_failures, circuit_reset, clock)
        self.metrics: deque[CallMetrics] = deque(maxlen=metrics_size)
        self.spelling: str | None = None if schema_spelling == 'auto' else schema_spelling
        self._spelling_lock = threading.Lock()
        self._model_lock = threading.Lock()
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or 'none'
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key, timeout=timeout, max_retries=0
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix='openai')

    def prepare(self, timeout: float | None = None) -> str:
        """Before the first incident: the model's name, the spelling, a first small request.

        Why: a server's first request is its slowest (a cold server, the schema compiled into
        a grammar), ``auto`` spends a refused request on finding the spelling, and an Instant
        pass of 0.1 s has time for neither. Returns the spelling; raises when the server
        cannot be reached (which the circuit counts).
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        schema = model.plan_schema([])
        params: dict[str, Any] = {
            'messages': [{'role': 'system', 'content': model.SYSTEM},
                         {'role': 'user', 'content': 'A first request: answer any plan.'}],
            'max_tokens': 8, 'temperature': 0.0, 'seed': self.seed,
        }  # fmt: skip
        with self._spelling_lock:
            if self.spelling is None:
                self._probe_spelling(params, schema, deadline, lambda completion: completion)
                return str(self.spelling)  # set by the probe when it returns
        spelling = self.spelling
        self._call(params | _response_format(spelling, schema), deadline, lambda c: c)
        return spelling

    def close(self) -> None:
        """Release the connections and the worker threads (calls in flight run out)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    # The pass --------------------------------------------------------------------------------

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        """See :class:`~muse_supervisor.reasoner.core.Backend`.

        Raises (so that the reasoner falls back to the SOPs) when the circuit is open, no time
        is left, or no call gave a readable plan. The model's calls end ``reserve`` s before
        the pass's deadline, which leaves the reasoner the time to fall back and rank.
        """
        deadline = moment.deadline - self.reserve
        self._admit(deadline)
        try:
            procedures = tools.call('sop', {})
        except ToolError:
            procedures = []
        messages: list[dict[str, Any]] = [
            {'role': 'system', 'content': model.SYSTEM},
            {'role': 'user', 'content': self._user_content(moment, procedures)},
        ]
        rounds = self.tool_rounds if moment.mode == 'thinking' else self.instant_tool_rounds
        if rounds and self.tool_choice != 'none' and tools.tools:
            self._tool_rounds(messages, deadline, tools, rounds)
        schema = model.moment_schema(moment)  # the gate's places and limits; no motion if held
        job = _Pass(moment, deadline, messages, schema)
        if moment.mode == 'thinking' and moment.candidates > 1:
            results = self._parallel(job)
        else:
            results = [self._sample(job, 0, 0.0)]
        found = [r for r in results if isinstance(r, Candidate)]
        if not found:
            errors = '; '.join(dict.fromkeys(f'{type(r).__name__}: {r}' for r in results))
            raise ModelAnswerError(f'no plan from {self.base_url}: {errors or "no answer"}')
        return found

    def _admit(self, deadline: float) -> None:
        if not self.breaker.allow():
            raise BackendUnavailableError(
                f'circuit open after {self.breaker.consecutive} consecutive failures of '
                f'{self.base_url}; next try in {self.breaker.retry_in():.1f} s'
            )
        if deadline - time.monotonic() < MIN_CALL:
            raise BackendUnavailableError('deadline reached: no time left for a model call')

    def _parallel(self, job: _Pass) -> list[Candidate | Exception]:
        """The k plan requests at once; what has not answered by the deadline is not awaited."""
        futures: list[Future[Candidate | Exception]] = [
            self._pool.submit(self._sample, job, i, self.temperature)
            for i in range(job.moment.candidates)
        ]
        wait(futures, timeout=max(0.0, job.deadline - time.monotonic()) + SLACK)
        return [
            f.result() if f.done() else TimeoutError('no answer by the deadline') for f in futures
        ]

    def _sample(self, job: _Pass, index: int, temperature: float) -> Candidate | Exception:
        """One plan request's candidate, or why there is none (the other samples go on)."""
        try:
            return self._plan(job, index, temperature)
        except Exception as error:
            return error

    def _plan(self, job: _Pass, index: int, temperature: float) -> Candidate:
        """One schema-constrained plan request, read into a candidate."""
        params: dict[str, Any] = {
            'messages': job.messages,
            'max_tokens': self.max_tokens,
            'temperature': temperature,
            'seed': self.seed + index,
        }
        moment, generator = job.moment, f'openai/{job.moment.mode}'

        def read(completion: Any) -> Candidate:
            answer = read_answer(completion.choices[0].message.content or '')
            return model.read_plan(answer, moment, index, generator)

        if self.spelling is None:
            with self._spelling_lock:  # one pass finds the spelling; parallel ones wait for it
                if self.spelling is None:
                    return self._probe_spelling(params, job.schema, job.deadline, read)
        spelled = params | _response_format(self.spelling, job.schema)
        return self._call(spelled, job.deadline, read)

    def _probe_spelling(
        self,
        params: dict[str, Any],
        schema: dict[str, Any],
        deadline: float,
        read: Callable[[Any], _T],
    ) -> _T:
        """``auto``: the OpenAI spelling, then llama.cpp's; remember the one the server took.

        A server that refuses ``json_schema`` and then answers ``json_object`` with anything
        but another refusal (a plan, an unreadable answer, a timeout) speaks ``json_object``.
        """
        try:
            found = self._call(
                params | _response_format('json_schema', schema), deadline, read, probing=True
            )
        except openai.APIStatusError as error:
            if error.status_code not in SPELLING_STATUS:
                raise
        except ModelAnswerError:
            self.spelling = 'json_schema'  # taken, though this answer was no plan
            raise
        else:
            self.spelling = 'json_schema'
            return found
        try:
            found = self._call(params | _response_format('json_object', schema), deadline, read)
        except openai.APIStatusError:
            raise  # refused both ways: a broken server rather than a spelling; decided later
        except Exception:
            self.spelling = 'json_object'
            raise
        self.spelling = 'json_object'
        return found

    # Tools -----------------------------------------------------------------------------------

    def _tool_rounds(
        self, messages: list[dict[str, Any]], deadline: float, tools: ToolBox, rounds: int
    ) -> None:
        """Let the model call tools, through the ToolBox, before it is asked for the plan."""
        specs = [{'type': 'function', 'function': t.spec()} for t in tools.tools.values()]
        for round_ in range(rounds):
            if deadline - time.monotonic() < MIN_CALL:
                return
            choice: Any = 'required' if self.tool_choice == 'required' else 'auto'
            if round_ == 0 and self.tool_choice in tools.tools:  # a forced first call
                choice = {'type': 'function', 'function': {'name': self.tool_choice}}
            params = {
                'messages': messages,
                'tools': specs,
                'tool_choice': choice,
                'max_tokens': TOOL_TOKENS,
                'temperature': 0.0,
                'seed': self.seed,
            }
            try:
                reply = self._call(params, deadline, lambda c: c.choices[0].message)
            except (openai.APIStatusError, ModelAnswerError):
                return  # tools refused or garbled this time: the plan request still may work
            calls = [c for c in reply.tool_calls or () if getattr(c, 'function', None)]
            if not calls:
                return
            messages.append({
                'role': 'assistant', 'content': reply.content or '',
                'tool_calls': [{'id': c.id, 'type': 'function', 'function': {
                    'name': c.function.name, 'arguments': c.function.arguments}} for c in calls],
            })  # fmt: skip
            for call in calls:
                result = _run_tool(tools, call.function.name, call.function.arguments,
                                   self.tool_result_chars)  # fmt: skip
                messages.append({'role': 'tool', 'tool_call_id': call.id, 'content': result})

    # Calls -----------------------------------------------------------------------------------

    def _call(
        self,
        params: dict[str, Any],
        deadline: float,
        read: Callable[[Any], _T],
        probing: bool = False,
    ) -> _T:
        """One chat completion, retried while it can help, recorded, and read.

        A call cut short by the deadline (less time left than ``timeout``) that times out is
        no failure of the server: a healthy server slower than an Instant pass's 0.1 s would
        otherwise open the circuit, and Thinking, which has time for it, would lose it too.
        ``probing``: a status error is the server refusing a spelling, not a failure of the
        server: neither retried nor reported to the breaker.
        """
        attempt = 0
        while True:
            self._admit(deadline)
            left = deadline - time.monotonic()
            start = time.monotonic()
            try:
                completion = self._client.chat.completions.create(
                    model=self._model_name(deadline), timeout=min(self.timeout, left), **params
                )
            except openai.APIError as error:
                self._record(start, None, error)
                transient = _transient(error)
                if probing and isinstance(error, openai.APIStatusError):
                    raise
                cut = isinstance(error, openai.APITimeoutError) and left < self.timeout
                if transient and not cut:
                    self.breaker.record(False)
                pause = self.backoff * 2**attempt
                if not transient or attempt >= self.retries:
                    raise
                if time.monotonic() + pause + MIN_CALL > deadline:
                    raise
                attempt += 1
                time.sleep(pause)
                continue
            try:
                value = read(completion)
            except (ModelAnswerError, IndexError, AttributeError) as error:
                self._record(start, completion, error)
                self.breaker.record(False)
                raise ModelAnswerError(str(error)) from error
            self._record(start, completion, None)
            self.breaker.record(True)
            return value

    def _model_name(self, deadline: float) -> str:
        """The configured model, or the endpoint's first (asked once)."""
        if self.model:
            return self.model
        with self._model_lock:
            if not self.model:
                left = max(MIN_CALL, deadline - time.monotonic())
                listed = self._client.models.list(timeout=min(self.timeout, left))
                names = [m.id for m in listed.data]
                if not names:
                    raise ModelAnswerError(f'{self.base_url} lists no model')
                self.model = names[0]
        return self.model

    def _record(self, start: float, completion: Any, error: Exception | None) -> None:
        usage = getattr(completion, 'usage', None)
        self.metrics.append(
            CallMetrics(
                self.name, 1e3 * (time.monotonic() - start),
                int(getattr(usage, 'prompt_tokens', 0) or 0),
                int(getattr(usage, 'completion_tokens', 0) or 0),
                error is None, '' if error is None else f'{type(error).__name__}: {error}'[:300],
            )
        )  # fmt: skip

    # The user message ------------------------------------------------------------------------

    def _user_content(self, moment: Moment, procedures: Any) -> str | list[dict[str, Any]]:
        text = model.prompt(moment, procedures if isinstance(procedures, list) else [])
        if not (self.send_images and self.max_images and moment.frames):
            return text
        parts: list[dict[str, Any]] = [{'type': 'text', 'text': text}]
        for _, pixels in list(moment.frames)[-self.max_images :][::-1]:  # newest first
            url = jpeg_data_url(pixels, self.image_side, self.image_bytes)
            if url:
                parts.append({'type': 'image_url', 'image_url': {'url': url}})
        return parts


def read_answer(text: str) -> Any:
    """A server's JSON answer, parsed, with unprintable characters in its strings made spaces.

    Why not plain ``json.loads``: constrained decoders let raw control characters into JSON
    strings (seen with llama.cpp's grammar, whose byte-fallback tokens slip past its string
    rule, and with xgrammar), which strict JSON refuses although the structure is the schema's.
    They are never wanted in a plan (an operator message with a terminal escape or a bidi
    override in it) and the gate refuses them, so they become spaces, as do lone surrogates,
    which no UTF-8 message can carry. Nothing else is changed: a number out of range stays
    out of range, for the validator to refuse.
    """
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as error:
        raise ModelAnswerError(f'answer is not JSON ({error.msg} at {error.pos})') from error
    return _clean(value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        if value.isprintable():  # the common case: nothing to replace
            return value
        return ''.join(' ' if unicodedata.category(c) in _UNPRINTABLE else c for c in value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


def _response_format(spelling: str | None, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields that constrain the answer to ``schema``, in a server's spelling."""
    if spelling == 'json_schema':
        # strict off: OpenAI's strict mode wants every property required; constrained decoders
        # (vLLM, SGLang) apply the schema either way.
        return {'response_format': {'type': 'json_schema', 'json_schema': {
            'name': 'recovery_plan', 'schema': schema, 'strict': False}}}  # fmt: skip
    # Not a field of the client's typed ResponseFormat: sent as an extra body field.
    return {'extra_body': {'response_format': {'type': 'json_object', 'schema': schema}}}


def _transient(error: openai.APIError) -> bool:
    """Whether another try may succeed: no answer at all, a 5xx, or 408/409/429."""
    if isinstance(error, openai.APIConnectionError):  # timeouts included
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500 or error.status_code in RETRY_STATUS
    return False


def _run_tool(tools: ToolBox, name: str, arguments: str, limit: int) -> str:
    """A model's tool call, run through the ToolBox; the result (or refusal) as JSON text."""
    try:
        parsed = json.loads(arguments or '{}')
    except json.JSONDecodeError as error:
        return json.dumps({'error': f'arguments are not JSON ({error.msg})'})
    if not isinstance(parsed, dict):
        return json.dumps({'error': 'arguments must be a JSON object'})
    try:
        value = tools.call(name, parsed)
    except ToolError as error:
        return json.dumps({'error': f'refused: {error}'})
    return _bounded(value, limit)


def _bounded(value: Any, limit: int) -> str:
    """``value`` as JSON of about ``limit`` characters at most, still JSON when cut.

    A list loses its last items (the count of those omitted is said); anything else too long
    is sent as the start of its JSON text, in a string.
    """
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return text
    if isinstance(value, list):
        kept = list(value)
        while kept:
            kept.pop()
            shorter = json.dumps({'items': kept, 'omitted': len(value) - len(kept)}, default=str)
            if len(shorter) <= limit:
                return shorter
    return json.dumps({'truncated': text[: limit // 2]})


def jpeg_data_url(pixels: np.ndarray, side: int, max_bytes: int) -> str:
    """A frame as a ``data:image/jpeg;base64`` URL within ``side`` pixels and ``max_bytes``.

    Frames are 8-bit BGR or mono (16-bit mono is scaled down). Quality, then size, is lowered
    until the JPEG fits; ``''`` when even a small one does not.
    """
    import cv2  # only when images are sent: OpenCV is a large import

    image = np.asarray(pixels)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        return ''
    prefix = 'data:image/jpeg;base64,'
    fits = (max_bytes - len(prefix)) // 4 * 3  # JPEG bytes whose base64 fits in max_bytes
    limit = max(side, 16)
    while limit >= 16:
        height, width = image.shape[:2]
        scale = min(1.0, limit / max(height, width))
        small = image
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        for quality in (85, 70, 50, 30):
            ok, encoded = cv2.imencode('.jpg', small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(encoded) <= fits:
                return prefix + base64.b64encode(encoded.tobytes()).decode()
        limit //= 2
    return ''
