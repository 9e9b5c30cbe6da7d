"""Incident reports from a recording: decode what the recorder wrote, render one page each.

The recording holds every incident update, the key frames, the reasoner's proposals, operators'
decisions, the HMI's audit entries about the robot and the execution outcomes
(docs/RECORDING.md); :mod:`muse_supervisor.hmi.report` renders them, the same page the HMI
serves live.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from muse_supervisor.hmi.mapview import world_view
from muse_supervisor.hmi.report import IncidentReport, collect, render
from muse_supervisor.nodes import hmi_messages
from muse_supervisor.recording.reader import read_recording
from muse_supervisor.recording.recorder import frame_reference
from muse_supervisor.recording.replay import FRAME_TYPES, ReplayError, decode_message
from muse_supervisor.sim.world import WorldError, load_world

_KINDS = {
    'muse_supervisor/msg/Incident': ('incident', hmi_messages.incident_dict),
    'muse_supervisor/msg/RecoveryProposal': ('proposal', hmi_messages.proposal_dict),
    'muse_supervisor/msg/OperatorDecision': ('decision', hmi_messages.decision_dict),
    'muse_supervisor/msg/OperatorAction': ('action', hmi_messages.action_dict),
    'muse_supervisor/msg/ExecutionOutcome': ('outcome', hmi_messages.outcome_dict),
}
_UNSAFE = re.compile(r'[^A-Za-z0-9_.-]+')


class RecordingReportError(RuntimeError):
    """A recording that cannot be reported on as asked."""


def reports_of(path: Path) -> dict[str, IncidentReport]:
    """Every incident of the recording at ``path``, with what was decided and done about it."""
    try:
        recording = read_recording(path)
    except (OSError, ValueError) as error:
        raise RecordingReportError(
            f'{path}: cannot read it as an MCAP recording: {error}'
        ) from None
    records: list[tuple[str, dict[str, Any]]] = []
    frames: dict[str, bytes] = {}
    try:
        for message in recording.messages:
            if message.type_name in _KINDS:
                kind, convert = _KINDS[message.type_name]
                records.append((kind, convert(decode_message(message))))
            elif message.type_name in FRAME_TYPES:
                frame = hmi_messages.frame_jpeg(decode_message(message))
                if frame is not None:
                    frames[frame_reference(message.topic, message.log_time)] = frame.jpeg
    except ReplayError as error:
        raise RecordingReportError(str(error)) from None
    return collect(records, frames, source=str(path))


def write_reports(
    path: Path,
    out: Path | None = None,
    incident: str | None = None,
    world_file: Path | None = None,
) -> list[Path]:
    """Write one HTML page per incident (or only ``incident``) and an index; return the paths."""
    reports = reports_of(path)
    if not reports:
        raise RecordingReportError(f'{path} holds no incident')
    if incident is not None:
        if incident not in reports:
            raise RecordingReportError(
                f'{path} has no incident {incident!r}; it has {sorted(reports)}'
            )
        reports = {incident: reports[incident]}
    world, map_png = _world(world_file)
    out = out or path.with_suffix('')
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for incident_id, report in reports.items():
        page = out / f'{_UNSAFE.sub("_", incident_id)}.html'
        page.write_text(render(report, world, map_png), encoding='utf-8')
        written.append(page)
    index = out / 'index.html'
    rows = ''.join(
        f'<li><a href="{p.name}">{html.escape(i)}</a>: {html.escape(r.incident["kind"])}, '
        f'{html.escape(r.incident["state"])}</li>'
        for (i, r), p in zip(reports.items(), written, strict=True)
    )
    name = html.escape(path.name)
    index.write_text(f'<!doctype html><meta charset="utf-8"><title>Incidents of {name}</title>'
                     f'<h1>Incidents of {name}</h1><ul>{rows}</ul>', encoding='utf-8')  # fmt: skip
    return [*written, index]


def _world(world_file: Path | None) -> tuple[dict[str, Any] | None, bytes | None]:
    from muse_supervisor.nodes.installed import share_dir

    path = world_file or share_dir() / 'config/maps/warehouse_world.yaml'
    try:
        return world_view(load_world(path))
    except (WorldError, OSError) as error:
        if world_file is not None:
            raise RecordingReportError(f'world file {world_file}: {error}') from None
        return None, None  # no installed world: the report goes without its map
