"""Operator actions: what a request body must hold, and what the role and the HMI's view allow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.hmi.accounts import Role
from muse_supervisor.hmi.actions import (
    _ALL_FIELDS,
    MAX_EDITS,
    MAX_REASON,
    ActionError,
    ActionKind,
    OperatorAction,
    check_action,
    parse_action,
)
from muse_supervisor.hmi.fleet import FleetView

DIGEST = 'ab' * 32
OTHER_DIGEST = 'cd' * 32

# A body that satisfies every action, and what each action needs besides the robot.
FULL = {
    'robot': 'r1', 'incident_id': 'inc-1', 'plan_id': 'p1', 'plan_digest': DIGEST,
    'reason': 'checked on the camera', 'assignee': 'bob',
}  # fmt: skip
NEEDS = {
    'approve': ['incident_id', 'plan_id', 'plan_digest'],
    'reject': ['incident_id', 'plan_id', 'reason'],
    'edit': ['incident_id', 'plan_id', 'plan_digest'],  # and the edits (EDITS)
    'acknowledge': ['incident_id'],
    'assign': ['incident_id', 'assignee'],
    'dismiss': ['incident_id', 'reason'],
    'handled_on_site': ['incident_id'],
    'reset': ['reason'],
}


def test_the_table_covers_every_kind() -> None:
    assert set(NEEDS) == {kind.value for kind in ActionKind}


EDITS = [
    {'step': 1, 'name': 'seconds', 'value': 20},
    {'step': 2, 'name': 'target', 'value': 'dock_1'},
]


def body_for(kind: str, /, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {'action': kind, 'robot': 'r1'}
    body.update({name: FULL[name] for name in NEEDS[kind]})
    if kind == 'edit':
        body['edits'] = EDITS
    body.update(changes)
    return body


@pytest.mark.parametrize('action', sorted(NEEDS))
def test_each_action_parses_with_what_it_needs(action: str) -> None:
    parsed = parse_action(body_for(action))
    assert parsed.kind is ActionKind(action)
    assert parsed.robot == 'r1'
    for name in NEEDS[action]:
        assert getattr(parsed, name) == FULL[name]
    for name in set(FULL) - set(NEEDS[action]) - {'robot'}:
        assert getattr(parsed, name) == ''


@pytest.mark.parametrize(
    ('action', 'field'), [(action, field) for action in sorted(NEEDS) for field in NEEDS[action]]
)
@pytest.mark.parametrize('empty', ['absent', '', '   '])
def test_each_needed_field_is_required(action: str, field: str, empty: str) -> None:
    body = body_for(action)
    if empty == 'absent':
        del body[field]
    else:
        body[field] = empty
    with pytest.raises(ActionError) as error:
        parse_action(body)
    assert error.value.status == 400
    assert str(error.value).startswith(f'{action} needs ')
    assert field in str(error.value)


def test_all_missing_fields_are_named() -> None:
    with pytest.raises(ActionError, match='approve needs incident_id, plan_id, plan_digest'):
        parse_action({'action': 'approve', 'robot': 'r1'})


def test_values_are_stripped() -> None:
    parsed = parse_action(body_for('assign', incident_id=' inc-1 ', assignee='\tbob\n'))
    assert (parsed.incident_id, parsed.assignee) == ('inc-1', 'bob')


@pytest.mark.parametrize('field', ['operator_id', 'actor', 'role', 'Robot'])
def test_an_unknown_field_is_refused_naming_the_expected_ones(field: str) -> None:
    with pytest.raises(ActionError) as error:
        parse_action(body_for('acknowledge', **{field: 'mallory'}))
    message = str(error.value)
    assert f"unknown field(s) ['{field}']" in message
    assert f'expected some of {list(_ALL_FIELDS)}' in message
    assert error.value.status == 400


@pytest.mark.parametrize('action', ['', 'APPROVE', 'delete', 'approve_', 'handled on site'])
def test_an_unknown_action_is_refused_naming_the_actions(action: str) -> None:
    with pytest.raises(ActionError) as error:
        parse_action({'action': action, 'robot': 'r1', 'incident_id': 'inc-1'})
    message = str(error.value)
    assert f'unknown action {action!r}' in message
    for kind in ActionKind:
        assert repr(kind.value) in message


@pytest.mark.parametrize('body', [None, [], ['approve'], 'approve', 3, 2.5, True])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    with pytest.raises(ActionError, match='expected a JSON object'):
        parse_action(body)


@pytest.mark.parametrize('field', ['action', 'robot', 'incident_id', 'reason'])
@pytest.mark.parametrize(
    ('value', 'type_name'),
    [(1, 'int'), (1.5, 'float'), (None, 'NoneType'), (True, 'bool'), (['x'], 'list'),
     ({'x': 'y'}, 'dict')],
)  # fmt: skip
def test_a_value_that_is_not_a_string_is_refused(field: str, value: Any, type_name: str) -> None:
    with pytest.raises(ActionError, match=f'{field} must be a string, got {type_name}'):
        parse_action(body_for('dismiss', **{field: value}))


@pytest.mark.parametrize(
    'digest',
    ['ab' * 31, 'ab' * 33, 'AB' * 32, 'g' * 64, 'ab' * 31 + 'a ', '0x' + 'ab' * 31, 'plan'],
)
def test_the_digest_must_be_64_lowercase_hex_digits(digest: str) -> None:
    with pytest.raises(ActionError, match='plan_digest must be the 64 hex digits'):
        parse_action(body_for('approve', plan_digest=digest))


def test_a_digest_is_only_checked_for_an_approval() -> None:
    assert parse_action(body_for('reject', plan_digest='whatever')).plan_digest == 'whatever'


def test_the_reason_is_bounded() -> None:
    assert len(parse_action(body_for('reset', reason='x' * MAX_REASON)).reason) == MAX_REASON
    with pytest.raises(ActionError, match=f'longer than {MAX_REASON}'):
        parse_action(body_for('reset', reason='x' * (MAX_REASON + 1)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Bodies close to valid ones: real action names, the known fields mostly with short strings
# (blank ones too), now and then another JSON value, a digest in the wrong case, an extra field.
TEXT = st.sampled_from(['inc-1', 'p1', ' x ', '', '  ']) | st.text(max_size=6)
NEAR_BODIES = st.fixed_dictionaries(
    {
        'action': st.sampled_from([kind.value for kind in ActionKind]),
        'robot': st.sampled_from(['r1', ' r1', '']),
    },
    optional={
        'incident_id': TEXT | JSON,
        'plan_id': TEXT | JSON,
        'plan_digest': st.sampled_from([DIGEST, DIGEST.upper(), ' ' + DIGEST, '']) | JSON,
        'reason': TEXT | st.just('x' * (MAX_REASON + 1)) | JSON,
        'assignee': TEXT | JSON,
    },
) | st.builds(lambda body, extra: {**body, **extra}, st.just(body_for('reset')),
              st.dictionaries(st.text(max_size=8), JSON, min_size=1, max_size=2))  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(body=JSON | NEAR_BODIES)
def test_parse_action_only_ever_raises_action_error(body: Any) -> None:
    body = json.loads(json.dumps(body))  # what the server hands over: JSON-decoded data
    try:
        action = parse_action(body)
    except ActionError as error:
        assert str(error)
        assert error.status == 400
        return
    assert isinstance(action, OperatorAction)
    # Accepted: a dict of known string fields, each needed one present, values stripped.
    assert isinstance(body, dict)
    assert set(body) <= set(_ALL_FIELDS)
    assert action.kind.value == body['action'].strip()
    for name in NEEDS[action.kind.value]:
        assert getattr(action, name)
        assert getattr(action, name) == body[name].strip()


# -- check_action ------------------------------------------------------------------------------


def fleet_with_plans() -> FleetView:
    fleet = FleetView(['r1', 'r2'], clock=lambda: 100.0)
    fleet.set_incidents('r1', [{'id': 'inc-1'}, {'id': 'inc-2'}])
    fleet.set_proposal('r1', {'incident_id': 'inc-1', 'plans': [
        {'id': 'p1', 'digest': DIGEST}, {'id': 'p2', 'digest': OTHER_DIGEST}]})  # fmt: skip
    fleet.set_proposal('r1', {'incident_id': 'inc-2', 'plans': [{'id': 'q1', 'digest': DIGEST}]})
    fleet.set_proposal('r2', {'incident_id': 'inc-9', 'plans': [{'id': 'z1', 'digest': DIGEST}]})
    return fleet


ACTIONS = st.builds(
    OperatorAction,
    kind=st.sampled_from(ActionKind),
    robot=st.sampled_from(['r1', 'r2', 'nowhere']),
    incident_id=st.sampled_from(['inc-1', 'inc-2', '']),
    plan_id=st.sampled_from(['p1', 'p2', 'q1', 'z1', 'none']),
    plan_digest=st.sampled_from([DIGEST, OTHER_DIGEST]),
    reason=st.text(max_size=5),
    assignee=st.text(max_size=5),
)


@settings(max_examples=200, deadline=None, database=None)
@given(action=ACTIONS)
def test_a_viewer_is_refused_every_action(action: OperatorAction) -> None:
    with pytest.raises(ActionError) as error:
        check_action(action, Role.VIEWER, fleet_with_plans())
    assert error.value.status == 403
    assert 'only an operator may act' in str(error.value)


@pytest.mark.parametrize('action', sorted(NEEDS))
def test_an_operator_may_take_every_action_on_what_was_shown(action: str) -> None:
    check_action(parse_action(body_for(action)), Role.OPERATOR, fleet_with_plans())


def test_an_unknown_robot_is_404() -> None:
    action = parse_action(body_for('acknowledge', robot='r3'))
    with pytest.raises(ActionError) as error:
        check_action(action, Role.OPERATOR, fleet_with_plans())
    assert error.value.status == 404
    assert "unknown robot 'r3'" in str(error.value)
    assert "['r1', 'r2']" in str(error.value)


@pytest.mark.parametrize('action', ['approve', 'reject'])
@pytest.mark.parametrize('plan_id', ['p9', 'z1'])  # z1 is shown, but for r2
def test_a_plan_not_shown_for_the_robot_is_404(action: str, plan_id: str) -> None:
    parsed = parse_action(body_for(action, plan_id=plan_id))
    with pytest.raises(ActionError) as error:
        check_action(parsed, Role.OPERATOR, fleet_with_plans())
    assert error.value.status == 404
    assert f'plan {plan_id!r} is not among the proposals shown' in str(error.value)


@pytest.mark.parametrize('action', ['approve', 'reject'])
def test_a_plan_of_another_incident_is_refused(action: str) -> None:
    parsed = parse_action(body_for(action, plan_id='q1'))  # q1 belongs to inc-2
    with pytest.raises(ActionError) as error:
        check_action(parsed, Role.OPERATOR, fleet_with_plans())
    assert error.value.status == 400
    assert "belongs to incident 'inc-2', not 'inc-1'" in str(error.value)


def test_an_approval_of_a_digest_other_than_shown_is_409() -> None:
    parsed = parse_action(body_for('approve', plan_id='p2'))  # p2's digest is OTHER_DIGEST
    with pytest.raises(ActionError) as error:
        check_action(parsed, Role.OPERATOR, fleet_with_plans())
    assert error.value.status == 409
    assert 'changed since it was shown' in str(error.value)
    assert DIGEST[:12] in str(error.value)
    assert OTHER_DIGEST[:12] in str(error.value)


def test_an_approval_follows_the_newest_proposal() -> None:
    fleet = fleet_with_plans()
    action = parse_action(body_for('approve'))
    check_action(action, Role.OPERATOR, fleet)
    newer = {'incident_id': 'inc-1', 'plans': [{'id': 'p1', 'digest': OTHER_DIGEST}]}
    fleet.set_proposal('r1', newer)
    with pytest.raises(ActionError) as error:
        check_action(action, Role.OPERATOR, fleet)
    assert error.value.status == 409


def test_a_rejection_does_not_need_the_digest_shown() -> None:
    action = parse_action(body_for('reject', plan_id='p2', plan_digest='0' * 64))
    check_action(action, Role.OPERATOR, fleet_with_plans())


def test_edits_parse_into_steps_names_and_typed_values() -> None:
    parsed = parse_action(body_for('edit'))
    assert [(e.step, e.name, e.value) for e in parsed.edits] == [
        (1, 'seconds', 20.0), (2, 'target', 'dock_1')]  # fmt: skip
    assert isinstance(parsed.edits[0].value, float)


@pytest.mark.parametrize(
    ('edits', 'message'),
    [
        ([], 'expected at least one for edit'),
        ('seconds=20', 'edits must be a list'),
        ([{'step': 1, 'name': 'seconds'}], r'edits\[0\]: expected an object with step, name'),
        ([{'step': -1, 'name': 'seconds', 'value': 1}], r'edits\[0\].step: expected a step index'),
        ([{'step': True, 'name': 'seconds', 'value': 1}], r'edits\[0\].step'),
        ([{'step': 0, 'name': ' ', 'value': 1}], r'edits\[0\].name: expected an argument name'),
        ([{'step': 0, 'name': 'seconds', 'value': None}], r'edits\[0\].value: expected a number'),
        ([{'step': 0, 'name': 'seconds', 'value': True}], r'edits\[0\].value'),
        ([{'step': 0, 'name': 'x', 'value': 1}] * (MAX_EDITS + 1), f'at most {MAX_EDITS}'),
    ],
)
def test_a_malformed_edit_is_refused_saying_what_is_expected(edits: Any, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        parse_action(body_for('edit', edits=edits))


def test_edits_belong_to_the_edit_action_only() -> None:
    with pytest.raises(ActionError, match='none for other actions'):
        parse_action(body_for('approve', edits=EDITS))


def test_an_edit_of_a_digest_other_than_shown_is_409() -> None:
    parsed = parse_action(body_for('edit', plan_id='p2'))  # p2's digest is OTHER_DIGEST
    with pytest.raises(ActionError) as error:
        check_action(parsed, Role.OPERATOR, fleet_with_plans())
    assert error.value.status == 409
