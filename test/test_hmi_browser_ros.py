"""The web HMI in a real headless Chromium (Debian's, driven by Playwright) over the real stack.

A drive of the simulated robot raises an over-current alarm (in German); perception opens a
motor-fault incident, the reasoner proposes its plans and, with no auto-approval configured,
waits for a person. A viewer sees the incident and the plans but may not approve (the button is
disabled and the server refuses the request). An operator edits the plan's maintenance message
(the reasoner validates and simulates the edited plan and shows it under a new digest) and
approves the edited plan, which the gate executes. The audit file and the incident recording
name who did what.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from browser_harness import free_port, launch, login
from gate_harness import start_node, wait_for
from stack_watch import Watcher, start_perception, stop_all, write_timeline

from muse_supervisor.hmi.accounts import account_entry
from muse_supervisor.hmi.audit import read_audit
from muse_supervisor.msg import Incident
from muse_supervisor.recording.reader import read_recording

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ACCOUNTS = {'vera': ('viewer', 'vera-sees-all'), 'olga': ('operator', 'olga-decides')}
EDITED_MESSAGE = 'Left drive over-current: check the motor cable first'


@pytest.fixture
def namespace() -> str:
    return f'/hmi_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def watcher(ros_context: Any, namespace: str) -> Iterator[Watcher]:
    watcher = Watcher(ros_context, namespace)
    try:
        yield watcher
    finally:
        watcher.close()


def _login(browser: Any, url: str, name: str) -> Any:
    return login(browser, url, name, ACCOUNTS[name][1])


def _wait_for_answer(page: Any, action: str) -> None:
    """Wait for the page's message line to give the server's answer to ``action``."""
    page.wait_for_function(
        f"document.getElementById('message').textContent.startsWith('{action} ')"
        " && !document.getElementById('message').textContent.endsWith('…')",
        timeout=20_000,
    )
    message = page.inner_text('#message')
    assert ': done:' in message, message


def test_a_viewer_cannot_approve_and_an_operators_click_makes_the_gate_execute_the_plan(
    watcher: Watcher, namespace: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    accounts = tmp_path / 'accounts.yaml'
    entries = [account_entry(name, role, secret) for name, (role, secret) in ACCOUNTS.items()]
    accounts.write_text(yaml.safe_dump({'accounts': entries}))
    audit = tmp_path / 'audit.jsonl'
    port = free_port()
    url = f'http://127.0.0.1:{port}/'
    timeline = write_timeline(tmp_path, [{'at': 6.0, 'alarm': {
        'source': 'drive_left', 'code': 'E1042', 'severity': 'error',
        'text': 'Überstrom Antrieb links'}}])  # fmt: skip
    processes = [
        start_node('sim_world_node', namespace, 'sim_world.yaml', '-p', f'timeline:={timeline}',
                   '-p', 'camera_width:=160', '-p', 'camera_height:=120'),
        start_perception(namespace, tmp_path, '-p', 'floor_rate_hz:=0.0'),
        start_node('plan_simulator_node', namespace, 'plan_simulator.yaml'),
        start_node('safety_gate_node', namespace, 'safety_gate.yaml'),
        start_node('reasoner_node', namespace, 'reasoner.yaml'),  # no auto-approval: a person
        start_node('hmi_bridge_node', namespace, 'hmi_bridge.yaml', '-p', f'port:={port}',
                   '-p', f'accounts_file:={accounts}', '-p', f'audit_file:={audit}'),
    ]  # fmt: skip
    try:
        proposal = wait_for(
            lambda: next((p for p in watcher.proposals if p.kind == Incident.KIND_MOTOR_FAULT),
                         None),
            timeout=90, what='a proposal for the drive alarm',
        )  # fmt: skip
        best = proposal.plans[0].id
        plan = f'[data-plan="{best}"]'
        with sync_playwright() as playwright:
            browser = launch(playwright)
            viewer = _login(browser, url, 'vera')
            viewer.wait_for_selector(plan, timeout=30_000)
            assert 'motor_fault' in viewer.inner_text(f'[data-incident="{proposal.incident_id}"]')
            assert viewer.is_disabled(f'{plan} button[data-action="approve"]')
            # The server refuses it too, whatever the page does.
            status = viewer.evaluate(
                """async ([robot, incident, plan]) => {
                    const who = await (await fetch('/api/session')).json();
                    const answer = await fetch('/api/action', {method: 'POST',
                        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': who.csrf},
                        body: JSON.stringify({action: 'approve', robot,
                            incident_id: incident, plan_id: plan,
                            plan_digest: '0'.repeat(64)})});
                    return answer.status;
                }""",
                [namespace, proposal.incident_id, best],
            )
            assert status == 403, status
            operator = _login(browser, url, 'olga')
            operator.wait_for_selector(plan, timeout=30_000)
            viewer.screenshot(path=str(tmp_path / 'viewer.png'))
            # Edit the maintenance message of the plan's notify step; the reasoner validates
            # the edited plan, simulates it and shows it first under a new id and digest.
            operator.click(f'{plan} details.edit summary')
            operator.fill(f'{plan} details.edit input[data-step="1"][data-name="message"]',
                          EDITED_MESSAGE)  # fmt: skip
            operator.click(f'{plan} button[data-action="edit"]')
            _wait_for_answer(operator, 'edit')
            edited = f'[data-plan="{best}~e1"]'
            operator.wait_for_selector(edited, timeout=30_000)
            assert EDITED_MESSAGE in operator.inner_text(edited)
            operator.click(f'{edited} button[data-action="approve"]')
            _wait_for_answer(operator, 'approve')
            operator.screenshot(path=str(tmp_path / 'operator.png'))
            browser.close()
        executed = wait_for(
            lambda: (i := watcher.latest(proposal.incident_id)) is not None
            and any(t.to_state == Incident.STATE_EXECUTING for t in i.transitions) and i,
            timeout=60, what='the gate executing the approved plan',
        )  # fmt: skip
        moves = [(t.to_state, t.actor) for t in executed.transitions]
        assert (Incident.STATE_APPROVED, 'olga') in moves, moves
        republished = next(p for p in watcher.proposals if p.plans[0].id == f'{best}~e1')
        assert republished.plans[0].generator == 'operator/edit'
        assert 'Edited by olga' in republished.plans[0].rationale
        # The execution ends (the plan's own outcome is the gate's business, not the HMI's).
        wait_for(lambda: (i := watcher.latest(proposal.incident_id)) is not None
                 and i.state != Incident.STATE_EXECUTING, timeout=60,
                 what='the execution to end')  # fmt: skip
    finally:
        output = stop_all(*processes)
        (tmp_path / 'stack.log').write_text(output)  # what every node said, for a failure
    assert 'Traceback' not in output, output
    trail = read_audit(audit)
    assert any(e.actor == 'olga' and e.action == 'edit' and e.accepted and e.plan_id == best
               for e in trail), trail  # fmt: skip
    assert any(e.actor == 'olga' and e.action == 'approve' and e.accepted
               and e.plan_id == f'{best}~e1' for e in trail), trail  # fmt: skip
    assert any(e.actor == 'vera' and not e.accepted for e in trail), trail
    recorded = [m for f in sorted((tmp_path / 'recordings').rglob('*.mcap'))
                for m in read_recording(f).messages]  # fmt: skip
    types = {m.type_name for m in recorded}
    assert {'muse_supervisor/msg/OperatorAction', 'muse_supervisor/msg/OperatorDecision',
            'muse_supervisor/msg/ExecutionOutcome'} <= types, types  # fmt: skip
