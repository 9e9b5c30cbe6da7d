"""The web HMI's page in a real headless Chromium, against the real server with data put in its
view by hand (no ROS): text from the world is shown as text, never run as markup; a robot whose
data stopped is shown stale; a viewer's buttons are disabled; an operator's click reaches the
server's ``perform`` with the operator the server verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_harness import launch, login

from muse_supervisor.hmi.accounts import Account, AccountBook, Role, hash_secret
from muse_supervisor.hmi.actions import OperatorAction
from muse_supervisor.hmi.audit import AuditLog
from muse_supervisor.hmi.fleet import FleetView
from muse_supervisor.hmi.server import ActionOutcome, HmiServer

INJECTION = '<img src=x onerror="window.pwned=1">STOP <b>now</b>'
DIGEST = 'ab' * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _incident(robot: str) -> dict[str, Any]:
    return {
        'id': f'{robot}/inc-1', 'robot_id': robot, 'kind': 'path_blocked', 'other_kinds': [],
        'severity': 'error', 'state': 'proposed', 'state_reason': '', 'owner': '',
        'acknowledged_by': '', 'opened': 1000.0, 'updated': 1000.0, 'confidence': 0.8,
        'summary': 'path blocked', 'evidence_total': 1, 'suppressed_count': 0, 'stale': False,
        'last_data': 1000.0, 'attempts': 0, 'transitions': [],
        'evidence': [{
            'source': 'camera', 'signal': 'text.read', 'cleared': False, 'trusted': False,
            'untrusted_attributes': ['text'], 'topic': 'camera/image_raw', 'producer': 'ocr',
            'summary': INJECTION, 'confidence': 0.9, 'stamp': 1000.0, 'data_ref': '',
            'attributes': {'text': INJECTION, 'box': '[[10, 10], [60, 30]]'},
        }],
    }  # fmt: skip


def _proposal(robot: str) -> dict[str, Any]:
    plan = {
        'id': f'{robot}/inc-1:P1', 'digest': DIGEST, 'tier': 'B', 'requires_approval': True,
        'rationale': INJECTION, 'sources': ['SOP-PB-01'], 'confidence': 0.8, 'risk': 0.1,
        'generator': 'sop', 'steps': [{'skill': 'stop', 'args': {}},
                                      {'skill': 'reroute', 'args': {'radius': '1'}}],
        'evaluation': {'outcome': 'success', 'success_probability': 0.9, 'risk': 0.1,
                       'duration_s': 12.0, 'distance': 4.0, 'min_clearance': 0.5,
                       'failing_step': -1, 'findings': [], 'path': [[0, 0], [2, 1]]},
    }  # fmt: skip
    return {
        'incident_id': f'{robot}/inc-1', 'stamp': 1000.0, 'mode': 'instant',
        'kind': 'path_blocked', 'confidence': 0.8, 'backend': 'sop', 'summary': 'What happened',
        'reasoning_ms': 40.0, 'plans': [plan], 'dropped': [],
        'trace': [{'tool': 'sop', 'summary': INJECTION, 'latency_ms': 1.0}],
    }  # fmt: skip


@pytest.fixture(scope='module')
def accounts() -> AccountBook:
    return AccountBook([
        Account('vera', Role.VIEWER, hash_secret('vera-sees-all')),
        Account('olga', Role.OPERATOR, hash_secret('olga-decides')),
    ])  # fmt: skip


@pytest.fixture
def served(accounts: AccountBook) -> Iterator[tuple[str, FleetView, Clock, list[Any]]]:
    clock = Clock()
    world = {
        'width': 100,
        'height': 100,
        'resolution': 0.1,
        'origin': [-1.0, -1.0],
        'places': [{'name': 'dock_1', 'kind': 'dock', 'x': 2.0, 'y': 1.0}],
        'zones': [],
    }
    fleet = FleetView(['/r1', '/r2'], clock, stale_after=5.0, world=world)
    calls: list[tuple[OperatorAction, Account]] = []

    def perform(action: OperatorAction, account: Account) -> ActionOutcome:
        calls.append((action, account))
        return ActionOutcome(True, 'recorded')

    server = HmiServer(fleet, accounts, AuditLog(None), perform, clock=clock)
    port = server.start()
    for robot in ('/r1', '/r2'):
        fleet.set_incidents(robot, [_incident(robot)])
        fleet.set_proposal(robot, _proposal(robot))
    try:
        yield f'http://127.0.0.1:{port}/', fleet, clock, calls
    finally:
        server.stop()


@pytest.fixture(scope='module')
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def _login(browser: Any, url: str, name: str, secret: str) -> Any:
    return login(browser, url, name, secret, ready='[data-plan]')


def test_text_from_the_world_is_shown_as_text_and_never_runs(browser: Any, served: Any) -> None:
    url, _, _, _ = served
    page = _login(browser, url, 'olga', 'olga-decides')
    assert page.evaluate('window.pwned') is None
    evidence = page.inner_text('#robot-\\/r1 .evidence')
    assert INJECTION in evidence  # the markup, as characters
    assert page.locator('#robot-\\/r1 .evidence img').count() == 0
    assert page.locator('#robot-\\/r1 .untrusted').count() >= 1


def test_a_robot_whose_data_stopped_shows_stale_with_its_age(browser: Any, served: Any) -> None:
    url, fleet, clock, _ = served
    page = _login(browser, url, 'vera', 'vera-sees-all')
    assert page.locator('#robot-\\/r2 .robot-stale').count() == 0
    clock.now += 30.0  # nothing heard from either robot for 30 s ...
    fleet.set_pose('/r1', {'x': 1.0, 'y': 1.0, 'yaw': 0.0})  # ... but r1 speaks again
    page.wait_for_selector('#robot-\\/r2 .robot-stale', timeout=5000)
    assert 'STALE' in page.inner_text('#robot-\\/r2 .robot-head')
    assert '30.0 s ago' in page.inner_text('#robot-\\/r2 .data-age')
    assert page.locator('#robot-\\/r1 .robot-stale').count() == 0


def test_a_viewers_buttons_are_disabled_and_an_operators_click_is_theirs(
    browser: Any, served: Any
) -> None:
    url, _, _, calls = served
    viewer = _login(browser, url, 'vera', 'vera-sees-all')
    assert viewer.is_disabled('#robot-\\/r1 [data-plan] button[data-action="approve"]')
    operator = _login(browser, url, 'olga', 'olga-decides')
    operator.click('#robot-\\/r2 [data-plan] button[data-action="approve"]')
    operator.wait_for_function(
        "document.getElementById('message').textContent.includes(': done:')", timeout=5000
    )
    assert len(calls) == 1
    action, account = calls[0]
    assert account.name == 'olga' and action.robot == '/r2'
    assert action.plan_id == '/r2/inc-1:P1' and action.plan_digest == DIGEST


def test_the_incident_report_page_needs_a_session_and_escapes_world_text(
    browser: Any, served: Any
) -> None:
    url, _, _, _ = served
    anonymous = browser.new_context().new_page()
    response = anonymous.goto(f'{url}report/%2Fr1%2Finc-1?robot=%2Fr1')
    assert response is not None and response.status == 401
    page = _login(browser, url, 'vera', 'vera-sees-all')
    with page.context.expect_page() as opened:
        page.click('#robot-\\/r1 a.report')
    report = opened.value
    report.wait_for_load_state()
    assert 'Incident /r1/inc-1' in report.inner_text('h1')
    assert report.evaluate('window.pwned') is None
    assert INJECTION in report.inner_text('body')  # shown as characters
    assert report.locator('svg.map polyline.best').count() == 1  # the predicted path
