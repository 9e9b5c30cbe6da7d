"""Which kinds are present, which one governs, and how sure the reasoner is.

Three kinds of evidence, combined per kind by noisy-or (independent pieces of evidence for the
same kind reinforce each other; one strong piece is enough):

- the robot's own inputs (e-stop, safety scanner, battery state of charge): near-certain;
- perception's rule matches (an alarm code or a diagnostic its rules know), at the rule's
  confidence;
- retrieval: each evidence text, translated (``language.py``) and embedded, against the SOP
  library's ``describes`` sentences; the similarity becomes support through a linear ramp, and
  counts for less from a camera read than from an alarm (a sign in view is not the robot's state).

A kind is present at support >= ``PRESENT``; the most safety-critical present kind governs.
The confidence is the governing kind's support, lowered by any more critical kind that is
almost present (conflicting evidence), and for ``unknown`` by the strongest kind that was not
quite present. It is the belief that the governing kind is right: below the operator threshold,
the plan asks a person first (DOMAIN.md invariant 6). ``eval`` measures how well it is
calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from muse_supervisor.domain import IncidentKind
from muse_supervisor.domain.vocabulary import SAFETY_PRIORITY
from muse_supervisor.reasoner.facts import EvidenceText
from muse_supervisor.reasoner.sops import Match

PRESENT = 0.5  # support at which a kind counts as present
AMBIGUOUS = (
    0.25  # a more critical kind with at least this support makes the governing one doubtful
)
SAFETY_INPUT = 0.97  # support from the robot's own e-stop, scanner or battery reading
# Similarity (cosine, all-MiniLM-L6-v2) to support: 0 at RAMP_LOW, the channel's ceiling at
# RAMP_HIGH. Unrelated warehouse sentences score 0.0-0.3 against each other, paraphrases 0.5-0.8.
RAMP_LOW, RAMP_HIGH = 0.35, 0.70
# A text the camera reads (a sign, a label, a panel) is about the world, not the robot's state:
# below PRESENT, it can reinforce other evidence but never make a kind present on its own.
CHANNEL_CEILING = {'alarm': 0.9, 'log': 0.85, 'camera': 0.45, 'mission': 0.3}
MARGIN = 0.05  # a text whose best kind beats the next by less than this supports both, halved
# An alarm whose device or code perception's rules already tie to a kind (a camera's
# "communication exception") describes that device's problem: its text's support for another
# kind counts half.
OTHER_KIND_SHARE = 0.5
# A kind known to be clear now (the robot's own e-stop or scanner input heard and clear, or
# every cause of that kind in the incident seen cleared by perception): a text about it (an old
# alarm's text, a sign, a log line in the two-minute context window) supports it at most this
# much, below AMBIGUOUS, so it neither governs nor makes the governing kind doubtful.
# Perception's rules and the inputs themselves are not capped.
CLEARED_CEILING = 0.2


@dataclass(frozen=True)
class Support:
    """Why a kind has the support it has: one entry per piece of evidence."""

    value: float
    why: str


@dataclass(frozen=True)
class KindBelief:
    """The reasoner's reading of the incident."""

    governing: IncidentKind
    present: tuple[IncidentKind, ...]
    confidence: float
    support: Mapping[IncidentKind, float]
    reasons: Mapping[IncidentKind, tuple[Support, ...]] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()


def ramp(similarity: float, ceiling: float) -> float:
    """Support from one similarity."""
    share = (similarity - RAMP_LOW) / (RAMP_HIGH - RAMP_LOW)
    return ceiling * min(1.0, max(0.0, share))


def believe(
    texts: Sequence[EvidenceText],
    matches: Sequence[Mapping[IncidentKind, Match]],
    safety_inputs: Mapping[IncidentKind, str],
    rule_kinds: Mapping[IncidentKind, float] | None = None,
    cleared: frozenset[IncidentKind] = frozenset(),
) -> KindBelief:
    """Combine the evidence. ``matches[i]`` is retrieval for ``texts[i]``.

    ``safety_inputs``: kinds the robot's own inputs show (kind -> why); ``rule_kinds``: the kinds
    of perception's active causes (alarm codes its rules know, image health, corridor, floor,
    payload), at the confidence of their evidence; ``cleared``: kinds known to be clear now
    (text support for them is capped at ``CLEARED_CEILING``).
    """
    reasons: dict[IncidentKind, list[Support]] = {}

    def add(kind: IncidentKind, value: float, why: str) -> None:
        if kind is not IncidentKind.UNKNOWN and value > 0.0:
            reasons.setdefault(kind, []).append(Support(value, why))

    for kind, why in safety_inputs.items():
        add(kind, SAFETY_INPUT, why)
    for kind, value in (rule_kinds or {}).items():
        add(kind, value, f'perception signal ({value:.2f})')
    for text, best in zip(texts, matches, strict=True):
        ranked = sorted(best.values(), key=lambda m: -m.similarity)
        ranked = [m for m in ranked if IncidentKind.UNKNOWN not in m.sop.kinds]
        if not ranked:
            continue
        ceiling = CHANNEL_CEILING.get(text.channel, 0.3)
        top = ranked[0]
        close = [m for m in ranked[1:] if top.similarity - m.similarity < MARGIN]
        share = 0.5 if close else 1.0
        for match in (top, *close):
            value = share * ramp(match.similarity, ceiling)
            kind = next(k for k in match.sop.kinds if k is not IncidentKind.UNKNOWN)
            if text.rule_kind and kind.name.lower() != text.rule_kind:
                value *= OTHER_KIND_SHARE
            if kind in cleared:
                value = min(value, CLEARED_CEILING)
            add(kind, value, f'{text.quoted()} ~ "{match.text}" ({match.similarity:.2f})')
    support = {kind: _noisy_or(s.value for s in items) for kind, items in reasons.items()}
    present = tuple(k for k in SAFETY_PRIORITY if support.get(k, 0.0) >= PRESENT)
    conflicts: list[str] = []
    if present:
        governing = present[0]
        confidence = support[governing]
        for kind in SAFETY_PRIORITY[: SAFETY_PRIORITY.index(governing)]:
            doubt = support.get(kind, 0.0)
            if doubt >= AMBIGUOUS:
                confidence *= 1.0 - doubt
                conflicts.append(f'{kind.name.lower()} almost present ({doubt:.2f})')
    else:
        governing = IncidentKind.UNKNOWN
        strongest = max(support.values(), default=0.0)
        confidence = 1.0 - strongest
        if strongest >= AMBIGUOUS:
            nearest = max(support, key=lambda k: support[k])
            conflicts.append(f'{nearest.name.lower()} not quite present ({strongest:.2f})')
    return KindBelief(
        governing=governing,
        present=present or (IncidentKind.UNKNOWN,),
        confidence=round(min(1.0, max(0.0, confidence)), 4),
        support=support,
        reasons={k: tuple(v) for k, v in reasons.items()},
        conflicts=tuple(conflicts),
    )


def _noisy_or(values: object) -> float:
    remaining = 1.0
    for value in values:  # type: ignore[attr-defined]
        remaining *= 1.0 - min(1.0, max(0.0, float(value)))
    return 1.0 - remaining
