"""The ``openai`` backend against a real OpenAI-compatible server: llama.cpp's, on this machine.

The server (``python -m llama_cpp.server``) serves a tiny random Llama built and converted to
GGUF by ``llama_server.py``; the backend talks to it with the official ``openai`` client over
HTTP. A random model's free answers are not plans; constrained to the plan schema they are, and
they go through the same validator as every backend's. Server failures are real ones: the
process is SIGKILLed (connection refused) or SIGSTOPped (a hung server that accepts connections
and never answers). The deadlines of the reasoner passes here are wider than the shipped ones
(0.1 s / 2 s) because the two cores of a CI machine are shared with other tests; the deadline
tests set their own and measure against them.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import openai
import pytest
from llama_server import LlamaServer, build_tiny_model
from test_reasoner import CONFIG, GATE, GLOSSARY, LIBRARY, POSE, WORLD, _alarm, _bundle

from muse_supervisor.reasoner.backends import model
from muse_supervisor.reasoner.backends.fleet import CircuitBreaker, OpenAIBackend, read_answer
from muse_supervisor.reasoner.core import (
    Candidate,
    Moment,
    Reasoner,
    ReasonerSettings,
    validate_candidate,
)
from muse_supervisor.reasoner.embeddings import TextEmbedder
from muse_supervisor.reasoner.facts import RobotState
from muse_supervisor.reasoner.maintenance import open_maintenance_log
from muse_supervisor.reasoner.tools import ToolBox

ROBOT = RobotState(pose=POSE, battery=0.14)
WIDE = {'instant_deadline': 5.0, 'thinking_deadline': 20.0}  # s: see the module docstring


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp('tiny-llama'))


@pytest.fixture(scope='module')
def server(tiny_model: Path) -> Iterator[LlamaServer]:
    running = LlamaServer(tiny_model).start()
    try:
        yield running
    finally:
        running.stop()
    assert not running.alive()


@pytest.fixture
def own_server(tiny_model: Path) -> Iterator[LlamaServer]:
    """A server of this test's own, to kill or stop."""
    running = LlamaServer(tiny_model).start()
    try:
        yield running
    finally:
        if running.process is not None and running.alive():
            os.kill(running.process.pid, signal.SIGCONT)
        running.stop()
    assert not running.alive()


@pytest.fixture(scope='module')
def embedder() -> TextEmbedder:
    embed = TextEmbedder()
    embed.load()
    return embed


def _reasoner(embedder: TextEmbedder, backend: Any, **settings: float) -> Reasoner:
    return Reasoner(
        LIBRARY,
        embedder.embed,
        GLOSSARY,
        GATE,
        WORLD,
        backend=backend,
        maintenance=open_maintenance_log('', CONFIG / 'maintenance' / 'history.csv'),
        settings=ReasonerSettings(**{**WIDE, **settings}),  # type: ignore[arg-type]
    )


def _battery_low() -> Any:
    return _bundle((_alarm('battery low, 14 %', source='bms'),))


class _Capture:
    """A backend that only keeps the moment and tools it is shown (the SOPs then answer)."""

    name = 'capture'

    def __init__(self) -> None:
        self.moment: Moment | None = None

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        self.moment = moment
        return []


def _moment(embedder: TextEmbedder, mode: str = 'instant') -> Moment:
    capture = _Capture()
    _reasoner(embedder, capture).propose(_battery_low(), ROBOT, mode)
    assert capture.moment is not None
    capture.moment.deadline = float('inf')
    return capture.moment


def _record_requests(backend: OpenAIBackend) -> list[dict[str, Any]]:
    """Every request the backend sends, with its start and end (monotonic) and thread."""
    create: Callable[..., Any] = backend._client.chat.completions.create
    seen: list[dict[str, Any]] = []

    def recording(**params: Any) -> Any:
        entry = {'params': params, 'start': time.monotonic(), 'thread': threading.get_ident()}
        seen.append(entry)
        try:
            return create(**params)
        finally:
            entry['end'] = time.monotonic()

    backend._client.chat.completions.create = recording  # type: ignore[method-assign]
    return seen


def _from(proposal: Any) -> set[str]:
    return {ranked.candidate.generator for ranked in proposal.plans}


# The server, the schema and the spellings ----------------------------------------------------


@pytest.mark.slow  # a llama.cpp server process
def test_constrained_answers_of_the_random_model_are_plans_and_free_ones_are_not(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    moment = _moment(embedder)
    client = openai.OpenAI(base_url=server.url, api_key='none', max_retries=0, timeout=60)
    messages = [
        {'role': 'system', 'content': model.SYSTEM},
        {'role': 'user', 'content': model.prompt(moment, [])},
    ]
    schema = model.moment_schema(moment)
    constrained = {'response_format': {'type': 'json_object', 'schema': schema}}

    def answer(seed: int, extra: dict[str, Any] | None) -> str:
        completion = client.chat.completions.create(
            model='tiny',
            messages=messages,
            max_tokens=512,
            temperature=0.9,
            seed=seed,
            extra_body=extra,  # type: ignore[arg-type]
        )
        return completion.choices[0].message.content or ''

    for seed in range(10):
        text = answer(seed, constrained)
        candidate = model.read_plan(read_answer(text), moment, seed, 'openai/test')
        assert candidate.plan.steps
        assert all(ord(c) >= 32 for c in json.dumps(read_answer(text), ensure_ascii=False))
    for seed in range(5):
        with pytest.raises(model.ModelAnswerError):
            model.read_plan(read_answer(answer(seed, None)), moment, seed, 'openai/test')
    # The OpenAI spelling of the same constraint is refused by this server.
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model='tiny',
            messages=messages,
            max_tokens=64,  # type: ignore[arg-type]
            response_format={
                'type': 'json_schema',
                'json_schema': {'name': 'plan', 'schema': schema},
            },
        )
    client.close()


@pytest.mark.slow  # a llama.cpp server process
def test_auto_spelling_falls_back_to_json_object_and_remembers_it(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    backend = OpenAIBackend(server.url, schema_spelling='auto', timeout=30)
    assert backend.spelling is None
    first = _reasoner(embedder, backend).propose(_battery_low(), ROBOT, 'instant')
    assert _from(first) == {'openai/instant'}
    assert backend.spelling == 'json_object'
    refused, took = list(backend.metrics)
    assert not refused.ok and 'InternalServerError' in refused.error and took.ok
    assert backend.breaker.consecutive == 0  # a refused spelling is no failure of the server
    _reasoner(embedder, backend).propose(_battery_low(), ROBOT, 'instant')
    assert [m.ok for m in backend.metrics] == [False, True, True]  # no second probe
    # Spelled the OpenAI way only, this server answers nothing: the SOPs do.
    strict = OpenAIBackend(server.url, schema_spelling='json_schema', retries=0, timeout=30)
    proposal = _reasoner(embedder, strict).propose(_battery_low(), ROBOT, 'instant')
    assert proposal.backend == 'openai' and _from(proposal) == {'sop/instant'}
    assert any('InternalServerError' in d for d in proposal.dropped)
    # prepare(): the model's name, the spelling and a first request, before any deadline.
    prepared = OpenAIBackend(server.url, schema_spelling='auto', timeout=30)
    assert prepared.prepare() == 'json_object' and prepared.model.endswith('tiny.gguf')
    calls = len(prepared.metrics)
    _reasoner(embedder, prepared).propose(_battery_low(), ROBOT, 'instant')
    assert len(prepared.metrics) == calls + 1 and prepared.metrics[-1].ok
    for each in (backend, strict, prepared):
        each.close()


# Proposals -----------------------------------------------------------------------------------


@pytest.mark.slow  # a llama.cpp server process
def test_instant_and_thinking_proposals_are_the_models_validated_plans(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    backend = OpenAIBackend(server.url, 'tiny', schema_spelling='json_object', timeout=30)
    reasoner = _reasoner(embedder, backend)
    instant = reasoner.propose(_battery_low(), ROBOT, 'instant')
    assert instant.backend == 'openai' and _from(instant) == {'openai/instant'}
    assert len(instant.plans) == 1
    thinking = reasoner.propose(_battery_low(), ROBOT, 'thinking')
    assert _from(thinking) == {'openai/thinking'}
    model_dropped = [d for d in thinking.dropped if 'openai/thinking' in d]
    assert len(thinking.plans) + len(model_dropped) == 4  # k candidates, each checked
    for proposal in (instant, thinking):
        for ranked in proposal.plans:
            assert validate_candidate(ranked.plan, GATE, {'person': False, 'estop': False}) == ''
            assert ranked.plan.id.startswith(f'robot_1/test/0001:openai/{proposal.mode}:')
    ids = {r.plan.id for r in thinking.plans}
    assert len(ids) == len(thinking.plans)
    calls = list(backend.metrics)
    assert len(calls) == 1 + 1 + 4 and all(c.ok for c in calls)  # instant; a tool round, k plans
    assert all(c.prompt_tokens > 100 and c.completion_tokens > 5 for c in calls)
    backend.close()


@pytest.mark.slow  # a llama.cpp server process
def test_thinking_sends_its_k_requests_at_once(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    backend = OpenAIBackend(
        server.url, 'tiny', schema_spelling='json_object', timeout=30, tool_rounds=0
    )
    seen = _record_requests(backend)
    reasoner = _reasoner(embedder, backend, candidates=6)
    proposal = reasoner.propose(_battery_low(), ROBOT, 'thinking')
    assert _from(proposal) == {'openai/thinking'}
    assert len(seen) == 6
    # Each request was in flight while every other one was: all started before any ended.
    first_end = min(e['end'] for e in seen)
    assert all(e['start'] < first_end for e in seen), seen
    assert len({e['thread'] for e in seen}) == 6
    assert sorted(e['params']['seed'] for e in seen) == list(range(6))
    assert all(e['params']['temperature'] > 0 for e in seen)
    # Instant: one request, temperature 0.
    seen.clear()
    reasoner.propose(_battery_low(), ROBOT, 'instant')
    assert len(seen) == 1 and seen[0]['params']['temperature'] == 0.0
    backend.close()


# Tools ---------------------------------------------------------------------------------------


@pytest.mark.slow  # a llama.cpp server process
def test_a_forced_tool_call_runs_through_the_toolbox_and_is_in_the_trace(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    backend = OpenAIBackend(
        server.url,
        'tiny',
        schema_spelling='json_object',
        timeout=30,
        tool_choice='maintenance_log',
        tool_result_chars=800,  # the tiny tokenizer spends a token per 2 characters
        tool_rounds=1,
    )
    seen = _record_requests(backend)
    proposal = _reasoner(embedder, backend).propose(_battery_low(), ROBOT, 'thinking')
    tool_round, *plans = seen
    assert tool_round['params']['tool_choice'] == {
        'type': 'function',
        'function': {'name': 'maintenance_log'},
    }
    offered = {t['function']['name'] for t in tool_round['params']['tools']}
    assert offered == {
        'sop',
        'mission_state',
        'maintenance_log',
        'inspect_image',
        'simulate',
        'summarise',
    }
    # The model's call is in the trace, after the reasoner's own look-ups, with its arguments.
    entries = [e for e in proposal.trace if e.tool == 'maintenance_log']
    assert entries, [e.to_dict() for e in proposal.trace]
    made = entries[-1]
    # Its result went back to the model before the plan was asked for.
    messages = plans[0]['params']['messages']
    assert [m['role'] for m in messages] == ['system', 'user', 'assistant', 'tool']
    call = messages[2]['tool_calls'][0]
    assert call['function']['name'] == 'maintenance_log'
    assert json.loads(call['function']['arguments']) == dict(made.arguments)
    result = messages[3]['content']
    if made.ok:
        parsed = json.loads(result)  # the records, or as many as fit
        assert isinstance(parsed, list) or (parsed['items'] and parsed['omitted'] > 0)
        assert len(result) <= 800
    else:
        assert 'refused' in json.loads(result)['error']
    assert 'tools' not in plans[0]['params'] and _from(proposal) == {'openai/thinking'}
    backend.close()


@pytest.mark.slow  # a llama.cpp server process
def test_a_refused_tool_call_is_reported_to_the_model(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    # No simulator: the ToolBox refuses ``simulate``; the model is told so, and still answers.
    backend = OpenAIBackend(
        server.url,
        'tiny',
        schema_spelling='json_object',
        timeout=30,
        tool_choice='simulate',
        tool_rounds=1,
    )
    seen = _record_requests(backend)
    proposal = _reasoner(embedder, backend).propose(_battery_low(), ROBOT, 'thinking')
    refused = [e for e in proposal.trace if e.tool == 'simulate']
    assert refused and not refused[0].ok
    tool_message = seen[1]['params']['messages'][3]
    assert tool_message['role'] == 'tool'
    assert json.loads(tool_message['content'])['error'].startswith('refused: ')
    assert _from(proposal) == {'openai/thinking'}
    backend.close()


@pytest.mark.slow  # a llama.cpp server process
def test_images_are_sent_as_bounded_jpeg_data_urls_only_when_asked(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (960, 1280, 3), dtype=np.uint8)
    for send in (False, True):
        backend = OpenAIBackend(
            server.url,
            'tiny',
            schema_spelling='json_object',
            timeout=30,
            send_images=send,
            image_side=256,
            image_bytes=40_000,
        )
        seen = _record_requests(backend)
        proposal = _reasoner(embedder, backend).propose(
            _battery_low(), ROBOT, 'instant', frames=[('old.png', frame), ('key.png', frame)]
        )
        assert _from(proposal) == {'openai/instant'}  # the server took the request
        content = seen[0]['params']['messages'][1]['content']
        if not send:
            assert isinstance(content, str) and 'base64' not in content
            continue
        text, image = content  # max_images 1: the newest frame only
        assert text['type'] == 'text' and image['type'] == 'image_url'
        url = image['image_url']['url']
        assert url.startswith('data:image/jpeg;base64,') and len(url) <= 40_000
        import base64

        decoded = cv2.imdecode(
            np.frombuffer(base64.b64decode(url.split(',')[1]), np.uint8), cv2.IMREAD_COLOR
        )
        assert decoded is not None and max(decoded.shape[:2]) <= 256
        backend.close()


# Failures: a dead server, a hung one, the circuit breaker -------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow  # a llama.cpp server process
def test_a_killed_server_gives_sop_plans_and_the_breaker_opens_and_closes(
    own_server: LlamaServer, embedder: TextEmbedder, tiny_model: Path
) -> None:
    clock = _Clock()
    backend = OpenAIBackend(
        own_server.url,
        'tiny',
        schema_spelling='json_object',
        timeout=30,
        retries=0,
        circuit_failures=3,
        circuit_reset=30.0,
        clock=clock,
    )
    reasoner = _reasoner(embedder, backend)
    assert _from(reasoner.propose(_battery_low(), ROBOT, 'instant')) == {'openai/instant'}
    own_server.kill()  # SIGKILL: no goodbye
    for attempt in range(3):
        proposal = reasoner.propose(_battery_low(), ROBOT, 'instant')
        assert proposal.backend == 'openai' and _from(proposal) == {'sop/instant'}
        assert any('APIConnectionError' in d for d in proposal.dropped), proposal.dropped
        assert len(backend.metrics) == 2 + attempt
    assert backend.breaker.state == 'open'
    # Open: the SOPs answer at once, no connection is attempted.
    for mode in ('instant', 'thinking'):
        start = time.monotonic()
        proposal = reasoner.propose(_battery_low(), ROBOT, mode)
        assert _from(proposal) <= {'sop/instant', 'sop/thinking'}
        assert any('circuit open' in d for d in proposal.dropped), proposal.dropped
        assert len(backend.metrics) == 4
    assert time.monotonic() - start < 1.0
    # Half-open after circuit_reset: one try; the server is still dead, so it opens again.
    clock.now += 31.0
    assert backend.breaker.state == 'half_open'
    proposal = reasoner.propose(_battery_low(), ROBOT, 'instant')
    assert _from(proposal) == {'sop/instant'} and len(backend.metrics) == 5
    assert backend.breaker.state == 'open'
    # The server is back on its port; after the next reset the circuit closes on success.
    with LlamaServer(tiny_model, port=own_server.port) as again:
        clock.now += 31.0
        proposal = reasoner.propose(_battery_low(), ROBOT, 'instant')
        assert _from(proposal) == {'openai/instant'}
        assert backend.breaker.state == 'closed' and backend.breaker.openings == 2
    assert not again.alive()
    backend.close()


@pytest.mark.slow  # a llama.cpp server process
def test_a_hung_server_costs_no_more_than_the_deadline(
    own_server: LlamaServer, embedder: TextEmbedder
) -> None:
    # SIGSTOP: the kernel still accepts connections, nothing answers. The backend's own timeout
    # (30 s) is far beyond the deadline, so only the time left can bound the calls.
    backend = OpenAIBackend(
        own_server.url, 'tiny', schema_spelling='json_object', timeout=30, retries=3, tool_rounds=0
    )
    reasoner = _reasoner(embedder, backend, thinking_deadline=1.5, instant_deadline=0.5)
    assert own_server.process is not None
    os.kill(own_server.process.pid, signal.SIGSTOP)
    try:
        for mode, deadline in (('instant', 0.5), ('thinking', 1.5)):
            start = time.monotonic()
            proposal = reasoner.propose(_battery_low(), ROBOT, mode)
            took = time.monotonic() - start
            assert _from(proposal) <= {'sop/instant', 'sop/thinking', 'sop/operator'}
            assert proposal.plans and proposal.backend == 'openai'
            assert took < deadline + 0.5, (mode, took)
            assert any('Timeout' in d or 'deadline' in d for d in proposal.dropped), proposal
    finally:
        os.kill(own_server.process.pid, signal.SIGCONT)
    timeouts = [m for m in backend.metrics if 'APITimeoutError' in m.error]
    assert timeouts and all(not m.ok for m in backend.metrics)
    # Cut short by the deadline, not by the backend's own timeout: no failure of the server.
    assert backend.breaker.state == 'closed' and backend.breaker.consecutive == 0
    backend.close()


@pytest.mark.slow  # a llama.cpp server process
def test_a_timeout_shorter_than_the_call_falls_back_within_the_deadline(
    server: LlamaServer, embedder: TextEmbedder
) -> None:
    backend = OpenAIBackend(
        server.url,
        'tiny',
        schema_spelling='json_object',
        timeout=0.002,
        retries=2,
        backoff=0.01,
        circuit_failures=100,
        tool_rounds=0,
    )
    reasoner = _reasoner(embedder, backend, thinking_deadline=2.0)
    start = time.monotonic()
    proposal = reasoner.propose(_battery_low(), ROBOT, 'thinking')
    took = time.monotonic() - start
    assert _from(proposal) == {'sop/thinking'} and took < 2.0 + 0.5
    assert backend.metrics and all('APITimeoutError' in m.error for m in backend.metrics)
    assert len(backend.metrics) == 4 * 3  # k samples, each tried 1 + retries times
    backend.close()


def test_the_breaker_counts_consecutive_failures_only() -> None:
    clock = _Clock()
    breaker = CircuitBreaker(3, 10.0, clock)
    for ok in (False, False, True, False, False):
        breaker.record(ok)
    assert breaker.state == 'closed' and breaker.allow()
    breaker.record(False)
    assert breaker.state == 'open' and not breaker.allow()
    assert breaker.retry_in() == pytest.approx(10.0)
    clock.now += 10.0
    assert breaker.state == 'half_open' and breaker.allow()
    breaker.record(True)
    assert breaker.state == 'closed' and breaker.consecutive == 0
    with pytest.raises(ValueError, match='circuit_failures'):
        CircuitBreaker(0, 1.0, clock)


def test_the_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('MUSE_OPENAI_API_KEY', 'secret-1')
    assert OpenAIBackend('http://127.0.0.1:9/v1')._client.api_key == 'secret-1'
    monkeypatch.delenv('MUSE_OPENAI_API_KEY')
    assert OpenAIBackend('http://127.0.0.1:9/v1')._client.api_key == 'none'
    with pytest.raises(ValueError, match='schema_spelling'):
        OpenAIBackend('http://127.0.0.1:9/v1', schema_spelling='yaml')


def test_unprintable_characters_of_an_answer_become_spaces_and_nothing_else_changes() -> None:
    text = '{"a": "x\x1by\u202ez", "b": ["\\ud800ok", 1e999, 7.5], "c": "plain"}'
    assert read_answer(text) == {'a': 'x y z', 'b': [' ok', float('inf'), 7.5], 'c': 'plain'}
    with pytest.raises(model.ModelAnswerError, match='not JSON'):
        read_answer('{"a": ')
