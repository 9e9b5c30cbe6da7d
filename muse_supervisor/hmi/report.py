"""The incident report: one printable HTML page per incident, from the HMI or from a recording.

What the incident was (kind, severity, every lifecycle move with its actor), what the robot saw
(the key frame with the boxes of the camera evidence), the evidence, the plans the reasoner
considered with their predicted paths on the map, who decided what (decisions and the audit
trail), how the execution ended and whether the incident was verified resolved.

The page stands alone (images inline, no script), so it can be mailed, archived or printed.
Every text is escaped: text read from the world stays text. The inputs are the JSON-ready dicts
of the HMI (``nodes/hmi_messages.py`` makes them from messages, live or recorded).
"""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IncidentReport:
    """Everything known about one incident, oldest first."""

    incident: dict[str, Any]
    proposals: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    # The key frame (JPEG) the incident's camera evidence cites, if there is one.
    frame: bytes | None = None
    frame_caption: str = 'The key frame the camera evidence cites.'
    source: str = ''


def collect(
    records: list[tuple[str, dict[str, Any]]], frames: dict[str, bytes] | None = None,
    source: str = '',
) -> dict[str, IncidentReport]:  # fmt: skip
    """Reports per incident id from ``(kind, data)`` records in recorded order.

    ``kind`` is ``incident``, ``proposal``, ``decision``, ``action`` or ``outcome``; the last
    incident update wins; ``frames`` maps an evidence ``data_ref`` to its JPEG.
    """
    frames = frames or {}
    reports: dict[str, IncidentReport] = {}
    linked: list[tuple[str, dict[str, Any]]] = []
    for kind, data in records:
        if kind == 'incident':
            report = reports.get(data['id'])
            if report is None:
                reports[data['id']] = IncidentReport(data, source=source)
            else:
                report.incident = data
        else:
            linked.append((kind, data))
    for kind, data in linked:
        report = reports.get(data.get('incident_id', ''))
        if report is not None:
            {'proposal': report.proposals, 'decision': report.decisions,
             'action': report.actions, 'outcome': report.outcomes}[kind].append(data)  # fmt: skip
    for report in reports.values():
        refs = [e.get('data_ref', '') for e in report.incident.get('evidence', [])]
        report.frame = next((frames[ref] for ref in refs if ref in frames), None)
    return reports


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _clock(stamp: float | None) -> str:
    if not stamp:
        return '—'
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(stamp)) + ' UTC'


def render(report: IncidentReport, world: dict[str, Any] | None = None,
           map_png: bytes | None = None) -> str:  # fmt: skip
    """The report as a standalone HTML page."""
    incident = report.incident
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<title>Incident {_e(incident["id"])}</title><style>{_STYLE}</style></head><body>',
        f'<h1>Incident {_e(incident["id"])}</h1>',
        f'<p class="headline"><b>{_e(incident["kind"])}</b> · {_e(incident["severity"])} · '
        f'<b>{_e(incident["state"])}</b>'
        + (f' ({_e(incident["state_reason"])})' if incident.get('state_reason') else '')
        + f' · robot {_e(incident.get("robot_id", ""))} · opened {_clock(incident["opened"])}</p>',
        f'<p>{_e(incident["summary"])}</p>',
        _verification(report),
        '<h2>What the robot saw</h2>', _frame(report),
        '<h2>Evidence</h2>', _evidence(incident),
        '<h2>Plans considered</h2>', _plans(report),
        _map(report, world, map_png),
        '<h2>Decisions</h2>', _decisions(report),
        '<h2>Execution</h2>', _outcomes(report),
        '<h2>Lifecycle</h2>', _transitions(incident),
        f'<p class="source">Report made {_clock(time.time())}'
        + (f' from {_e(report.source)}' if report.source else '') + '.</p>',
        '</body></html>',
    ]  # fmt: skip
    return '\n'.join(parts)


def _verification(report: IncidentReport) -> str:
    state = report.incident['state']
    if state == 'resolved':
        text = 'Verified: the raising condition was seen cleared after the plan started.'
    elif state in ('failed', 'dismissed'):
        text = f'Not resolved: {state}.'
    else:
        text = f'Not verified yet (still {state}).'
    return f'<p class="verification {_e(state)}">{_e(text)}</p>'


def _frame(report: IncidentReport) -> str:
    if report.frame is None:
        return '<p>No key frame was recorded for this incident.</p>'
    boxes = []
    for evidence in report.incident.get('evidence', []):
        try:
            points = json.loads(evidence.get('attributes', {}).get('box', 'null'))
        except ValueError:
            continue
        if not isinstance(points, list) or len(points) < 2:
            continue
        try:
            coords = [(float(p[0]), float(p[1])) for p in points]
        except (TypeError, ValueError, IndexError):
            continue
        if len(coords) == 2:
            (x0, y0), (x1, y1) = coords
            coords = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        text = ' '.join(f'{x:.1f},{y:.1f}' for x, y in coords)
        boxes.append(f'<polygon points="{text}" class="box"/><text x="{coords[0][0]:.1f}" '
                     f'y="{max(10.0, coords[0][1] - 3):.1f}" class="label">'
                     f'{_e(evidence["signal"])}</text>')  # fmt: skip
    width, height = _jpeg_size(report.frame)
    data = base64.b64encode(report.frame).decode('ascii')
    return (f'<p>{_e(report.frame_caption)}</p><svg class="frame" viewBox="0 0 {width} '
            f'{height}" width="{width}" '
            f'height="{height}"><image href="data:image/jpeg;base64,{data}" width="{width}" '
            f'height="{height}"/>{"".join(boxes)}</svg>')  # fmt: skip


def _jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame marker (640 by 480 if none is found)."""
    index = 2
    while index + 9 < len(jpeg):
        if jpeg[index] != 0xFF:
            index += 1
            continue
        marker = jpeg[index + 1]
        length = int.from_bytes(jpeg[index + 2 : index + 4], 'big')
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(jpeg[index + 5 : index + 7], 'big')
            width = int.from_bytes(jpeg[index + 7 : index + 9], 'big')
            return width, height
        index += 2 + length
    return 640, 480


def _evidence(incident: dict[str, Any]) -> str:
    rows = []
    for e in incident.get('evidence', []):
        summary = _e(e['summary'])
        if not e.get('trusted', False):
            summary = f'<span class="untrusted">untrusted text: {summary}</span>'
        cleared = ' (cleared)' if e.get('cleared') else ''
        rows.append(f'<tr><td>{_clock(e.get("stamp"))}</td><td>{_e(e["source"])}</td>'
                    f'<td><code>{_e(e["signal"])}</code>{cleared}</td><td>{summary}</td>'
                    f'<td>{_e(e.get("producer", ""))}</td></tr>')  # fmt: skip
    if not rows:
        return '<p>None recorded.</p>'
    total = incident.get('evidence_total', len(rows))
    note = f'<p>{len(rows)} of {total} pieces shown (the first and the newest).</p>' if (
        total > len(rows)) else ''  # fmt: skip
    return (note + '<table><tr><th>time</th><th>source</th><th>signal</th><th>what</th>'
            '<th>producer</th></tr>' + ''.join(rows) + '</table>')  # fmt: skip


def _plans(report: IncidentReport) -> str:
    if not report.proposals:
        return '<p>No proposal was recorded.</p>'
    parts = []
    for number, proposal in enumerate(report.proposals, 1):
        parts.append(
            f'<h3>Proposal {number} ({_clock(proposal.get("stamp"))}): {_e(proposal["kind"])}, '
            f'confidence {proposal["confidence"]:.2f}, {_e(proposal["mode"])} mode, '
            f'{_e(proposal["backend"])}</h3><ol>'
        )
        for plan in proposal['plans']:
            steps = ', '.join(
                _e(s['skill']) + (f' ({_e(", ".join(f"{k}={v}" for k, v in s["args"].items()))})'
                                  if s['args'] else '')
                for s in plan['steps']
            )  # fmt: skip
            evaluation = plan.get('evaluation')
            predicted = ('not simulated' if evaluation is None else
                         f'predicted {_e(evaluation["outcome"])}, success '
                         f'{100 * evaluation["success_probability"]:.0f} %, '
                         f'{evaluation["duration_s"]:.1f} s, {evaluation["distance"]:.1f} m'
                         + ''.join(f'; {_e(f)}' for f in evaluation['findings']))  # fmt: skip
            parts.append(
                f'<li><b>{_e(plan["id"])}</b> tier {_e(plan["tier"])}'
                f'{", needs approval" if plan["requires_approval"] else ""}: {steps}<br>'
                f'confidence {plan["confidence"]:.2f}, risk {plan["risk"]:.2f}; {predicted}<br>'
                f'<small>{_e(plan["rationale"])} Sources: {_e(", ".join(plan["sources"]))}. '
                f'Digest {_e(plan["digest"])}.</small></li>'
            )
        parts.append('</ol>')
    return ''.join(parts)


def _map(report: IncidentReport, world: dict[str, Any] | None, map_png: bytes | None) -> str:
    paths = [
        (plan['evaluation']['path'], rank == 0)
        for rank, plan in enumerate(report.proposals[-1]['plans'] if report.proposals else [])
        if plan.get('evaluation') and len(plan['evaluation']['path']) >= 2
    ]  # fmt: skip
    if not world or not world.get('width') or not paths:
        return ''
    resolution, (ox, oy) = world['resolution'], world['origin']
    width, height = world['width'], world['height']

    def pixel(x: float, y: float) -> str:
        return f'{(x - ox) / resolution:.1f},{height - (y - oy) / resolution:.1f}'

    layers = []
    if map_png is not None:
        data = base64.b64encode(map_png).decode('ascii')
        layers.append(f'<image href="data:image/png;base64,{data}" width="{width}" '
                      f'height="{height}"/>')  # fmt: skip
    for zone in world.get('zones', []):
        layers.append(
            f'<polygon class="zone" points="{" ".join(pixel(*p) for p in zone["polygon"])}"/>'
        )
    for place in world.get('places', []):
        px, py = pixel(place['x'], place['y']).split(',')
        layers.append(f'<circle cx="{px}" cy="{py}" r="3" class="place"/><text x="{px}" '
                      f'y="{py}" class="label">{_e(place["name"])}</text>')  # fmt: skip
    for path, best in reversed(paths):
        layers.append(f'<polyline class="{"best" if best else "path"}" '
                      f'points="{" ".join(pixel(x, y) for x, y in path)}"/>')  # fmt: skip
    return ('<h3>Predicted paths of the last proposal (best bold)</h3><svg class="map" '
            f'viewBox="0 0 {width} {height}" width="{2 * width}" height="{2 * height}">'
            + ''.join(layers) + '</svg>')  # fmt: skip


def _decisions(report: IncidentReport) -> str:
    rows = [
        f'<tr><td>{_clock(d.get("stamp"))}</td><td>{_e(d["operator_id"])}</td>'
        f'<td>{_e(d["decision"])} {_e(d["plan_id"])}</td><td>{_e(d.get("reason", ""))}</td>'
        f'<td>{"accepted" if d["accepted"] else "refused"}: {_e(d.get("message", ""))}</td></tr>'
        for d in report.decisions
    ] + [
        f'<tr><td>{_clock(a.get("stamp"))}</td><td>{_e(a.get("actor") or "nobody")} '
        f'({_e(a.get("role", ""))})</td><td>{_e(a["action"])} {_e(a.get("plan_id", ""))}</td>'
        f'<td>{_e(a.get("reason", ""))}</td><td>{"accepted" if a["accepted"] else "refused"}: '
        f'{_e(a.get("message", ""))}</td></tr>'
        for a in report.actions if a['action'] not in ('approve', 'reject') or not report.decisions
    ]  # fmt: skip
    if not rows:
        return '<p>No operator decided anything on this incident.</p>'
    return ('<table><tr><th>time</th><th>who</th><th>what</th><th>why</th><th>outcome</th></tr>'
            + ''.join(rows) + '</table>')  # fmt: skip


def _outcomes(report: IncidentReport) -> str:
    if not report.outcomes:
        return '<p>No plan was executed for this incident.</p>'
    return '<ul>' + ''.join(
        f'<li>{_clock(o.get("stamp"))}: plan {_e(o["plan_id"])} '
        + ('succeeded' if o['error_code'] == 0 else f'failed (error {o["error_code"]}: '
           f'{_e(o["error_msg"])})')
        + f', {o["steps_completed"]} of {o["step_count"]} steps in {o["total_time_s"]:.1f} s</li>'
        for o in report.outcomes
    ) + '</ul>'  # fmt: skip


def _transitions(incident: dict[str, Any]) -> str:
    rows = [
        f'<tr><td>{_clock(t["stamp"])}</td><td>{_e(t["from"])} → {_e(t["to"])}</td>'
        f'<td>{_e(t["actor"])}</td><td>{_e(t["reason"])}</td></tr>'
        for t in incident.get('transitions', [])
    ]
    if not rows:
        return '<p>No lifecycle move yet.</p>'
    return ('<table><tr><th>time</th><th>move</th><th>who</th><th>why</th></tr>'
            + ''.join(rows) + '</table>')  # fmt: skip


_STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0.5em 0; }
td, th { border: 1px solid #d1d5db; padding: 0.2em 0.4em; text-align: left; vertical-align: top; }
.untrusted { background: #fef3c7; border: 1px dashed #b45309; }
.verification.resolved { color: #065f46; font-weight: bold; }
.verification.failed, .verification.dismissed { color: #991b1b; font-weight: bold; }
svg .box { fill: none; stroke: #f59e0b; stroke-width: 2; }
svg .label { fill: #92400e; font-size: 10px; }
svg .zone { fill: rgba(220, 38, 38, 0.2); }
svg .place { fill: #2563eb; }
svg .best { fill: none; stroke: #4f46e5; stroke-width: 2; }
svg .path { fill: none; stroke: rgba(79, 70, 229, 0.4); stroke-width: 1; }
svg.map { border: 1px solid #9ca3af; }
.source { color: #6b7280; font-size: 0.8em; }
@media print { body { margin: 0.5cm; } h2 { page-break-after: avoid; } }
"""
