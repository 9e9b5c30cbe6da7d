"""``perception_node``: camera, alarms, diagnostics, logs and mission state become incidents.

A thin node around :class:`muse_supervisor.perception.core.PerceptionCore` and the latest-frame
pipeline (:mod:`muse_supervisor.perception.scheduler`): each subscription converts its message
to the core's plain types and hands it over; the changes the core reports go out on
``incidents`` (at once when what an operator acts on changed, repeated evidence at most once a
second: :mod:`muse_supervisor.perception.publishing`) and, as the list of open incidents, on
the latched ``incidents/open``.

==========================  ======================================  ==========================
input (relative names)      type                                    QoS
==========================  ======================================  ==========================
``image``                   ``sensor_msgs/Image``                   sensor data (best effort)
``image/compressed``        ``sensor_msgs/CompressedImage``         sensor data
``alarms``                  ``muse_supervisor/Alarm``               reliable
``diagnostics``             ``diagnostic_msgs/DiagnosticArray``     reliable
``/rosout``                 ``rcl_interfaces/Log``                  reliable, this namespace's
``vda5050/state``           ``std_msgs/String`` (VDA 5050 JSON)     reliable
``mission_state``           ``muse_supervisor/MissionState``        latched
``odom``                    ``nav_msgs/Odometry``                   reliable
``battery_state``           ``sensor_msgs/BatteryState``            reliable
``estop``, ``person_in_zone``  ``std_msgs/Bool``                    latched and volatile
==========================  ======================================  ==========================

Services: ``incidents/update`` (``UpdateIncident``: acknowledge, propose, approve, execution
start and end, dismiss; refused with the reason when the lifecycle does not allow it) and
``incidents/context`` (``GetIncidentContext``: the reasoner's context bundle as JSON). Callers
on the ROS graph are trusted as the gate's ``approve_plan`` callers are: an operator's identity
is verified by the HMI before it calls.

The camera callback never waits: it runs on a node and thread of its own (``<name>_camera``,
:class:`~muse_supervisor.nodes.lifecycle.InputThread`) and copies the message's bytes into a
one-frame slot in shared memory, undecoded; the analyzers run in a process of their own
(:mod:`muse_supervisor.perception.analysis_process`), which decodes the newest frame, and each
runs on a worker of its own at its configured rate (``*_rate_hz``, 0 turns one off).
With ``publish_person_in_zone`` the node also publishes ``person_in_zone`` from the person
detector, for robots without a safety scanner; a camera detector is not a safety-rated sensor,
and the gate's own person rules apply to whatever publishes the signal.

Time: every input is stamped with its own header time (the frame's, the alarm's) and the core
is told ``now`` from the node clock (ROS time, ``/clock`` under ``use_sim_time``).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Log
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import BatteryState, CompressedImage, Image
from std_msgs.msg import Bool, String

from muse_supervisor.domain import Severity
from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.incidents import IncidentAction, IncidentSnapshot, MissionStatus
from muse_supervisor.msg import (
    Alarm,
    ExecutionOutcome,
    Incident,
    IncidentList,
    MissionState,
    OperatorAction,
    OperatorDecision,
    RecoveryProposal,
)
from muse_supervisor.nodes.conversions import seconds
from muse_supervisor.nodes.incident_messages import incident_list_msg, incident_msg
from muse_supervisor.nodes.installed import share_dir
from muse_supervisor.nodes.lifecycle import Entities, InputThread, SupervisorNode, run
from muse_supervisor.nodes.qos import LATCHED, PROPOSALS
from muse_supervisor.params import ConfigError, param
from muse_supervisor.perception import alarms
from muse_supervisor.perception.analysis_process import AnalysisProcess, AnalyzerChoice, FrameRef
from muse_supervisor.perception.core import PerceptionCore
from muse_supervisor.perception.incidents import UnknownIncidentError
from muse_supervisor.perception.publishing import UpdateThrottle
from muse_supervisor.perception.rules import load_rules
from muse_supervisor.perception.signals import MissionSnapshot
from muse_supervisor.perception.vision import PERSON_DETECTED
from muse_supervisor.recording import IncidentRecorder, RecorderError
from muse_supervisor.srv import GetIncidentContext, UpdateIncident

_RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
STREAM_LOST = 'image.stream_lost'


@dataclass(frozen=True)
class PerceptionConfig:
    """Parameters of ``perception`` (see ``config/perception.yaml``)."""

    rules: str = param(
        '', 'A site rules file read after the shipped defaults '
        '(share/muse_supervisor/config/perception_rules.yaml; format in docs/INCIDENTS.md); '
        'empty: the defaults alone.',
    )  # fmt: skip
    robot_id: str = param('', 'Robot id in incident ids; empty: the namespace (or "robot").')
    tick_rate_hz: float = param(
        10.0, 'Rate of the incident timer: hysteresis, verification deadlines, staleness (Hz).',
        minimum=1.0, maximum=100.0,
    )  # fmt: skip
    camera_stale_timeout: float = param(
        2.0, 'Seconds without a camera frame, once frames have come, after which the stream '
        'counts as lost (evidence of a camera fault).', minimum=0.1, maximum=60.0,
    )  # fmt: skip
    health_rate_hz: float = param(
        5.0, 'Image health checks per second (dark, over-exposed, blurred, covered, frozen); '
        '0: off.', minimum=0.0, maximum=60.0,
    )  # fmt: skip
    floor_rate_hz: float = param(
        2.0, 'Drive corridor and floor checks per second; 0: off.', minimum=0.0, maximum=60.0
    )
    marker_rate_hz: float = param(
        2.0, 'QR code and ArUco marker reads per second; 0: off.', minimum=0.0, maximum=60.0
    )
    person_rate_hz: float = param(
        2.0, 'Person detections per second (HOG); 0: off.', minimum=0.0, maximum=60.0
    )
    ocr_rate_hz: float = param(
        0.5, 'OCR reads per second (rapidocr, about 0.4 s each on one core); 0: off.',
        minimum=0.0, maximum=10.0,
    )  # fmt: skip
    ocr_threads: int = param(
        1, 'CPU threads of the OCR engine (onnxruntime).', minimum=1, maximum=64
    )
    recording: bool = param(True, 'Record incidents and their key frames (MCAP).')
    recording_folder: str = param(
        '', 'Folder the incident recordings are written to; empty: '
        '$ROS_HOME/muse_supervisor/incidents ($ROS_HOME defaults to ~/.ros).',
    )  # fmt: skip
    recording_max_file_mb: float = param(
        256.0, 'Size at which a recording file is finished and the next one begun (MiB).',
        minimum=1.0, maximum=65536.0,
    )  # fmt: skip
    evidence_per_message: int = param(
        32, 'Pieces of evidence an Incident message carries: the first and the newest (all of '
        'them: incidents/context and the recording).', minimum=1, maximum=1000,
    )  # fmt: skip
    max_frame_mb: float = param(
        8.0, 'Largest camera frame handed to the analyzers (MiB; a 1080p rgba8 frame is 7.9); '
        'larger frames are refused with an error in the log.', minimum=0.1, maximum=1024.0,
    )  # fmt: skip
    publish_person_in_zone: bool = param(
        False, 'Publish person_in_zone (std_msgs/Bool) from the camera person detector, for '
        'robots without a safety scanner (which otherwise publishes it).',
    )  # fmt: skip


class PerceptionNode(SupervisorNode[PerceptionConfig]):
    """Turns camera, alarm, diagnostic, log and mission topics into incidents with evidence."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('perception', PerceptionConfig, **kwargs)
        self._lock = threading.Lock()  # the core: executor thread and analyzer workers
        self._core: PerceptionCore | None = None
        self._analysis: AnalysisProcess | None = None
        self._work = Entities(self)  # what on_activate starts
        self._sequence = 0
        self._last_frame: float | None = None  # steady time of the last frame
        self._stream_lost = False
        self._person_seen: bool | None = None
        self._log_prefix = ''
        self._robot_id = 'robot'
        self._evidence_limit = 0
        self._recorder: IncidentRecorder | None = None
        self._images_lock = threading.Lock()  # never held while analysing or writing
        self._recent_images: dict[int, Any] = {}  # sequence -> message, the last few frames
        self._key_frames: dict[tuple[str, float], str] = {}  # (topic, stamp) -> data_ref
        self._keyed: dict[str, tuple[int, int]] = {}  # incident -> (kind, severity) framed
        self._throttle = UpdateThrottle()

    # ----- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the rules; create the analyzers, the subscriptions and the publishers."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        namespace = self.get_namespace().strip('/')
        robot_id = config.robot_id or namespace or 'robot'
        try:
            defaults = share_dir() / 'config' / 'perception_rules.yaml'
            files = [defaults, *([Path(config.rules)] if config.rules else [])]
            rules = load_rules(files)
        except (ConfigError, OSError, ValueError) as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        try:
            self._recorder = self._open_recorder(config)
        except RecorderError as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        self._core = PerceptionCore(rules, robot_id)
        self._throttle = UpdateThrottle()
        self._robot_id = robot_id
        self._evidence_limit = config.evidence_per_message
        choice = AnalyzerChoice(
            config.health_rate_hz, config.floor_rate_hz, config.marker_rate_hz,
            config.person_rate_hz, config.ocr_rate_hz, config.ocr_threads,
        )  # fmt: skip
        for warning in choice.warnings():
            self.get_logger().warning(warning)
        analyzers = [a.name for a in choice.build()]  # cheap: models load on first use
        self._analysis = AnalysisProcess(
            choice, self._on_analysis, self._on_refused_frame,
            max_frame_bytes=int(config.max_frame_mb * 2**20),
        )  # fmt: skip
        # Nav2 and drivers in this namespace log as "<namespace>.<node>"; others are not ours.
        self._log_prefix = f'{namespace.replace("/", ".")}.' if namespace else ''
        self._create_entities(config)
        self.get_logger().info(
            f'configured: robot {robot_id}, rules {[str(f) for f in files]}, analyzers '
            f'{analyzers or "(none)"} (in a process of their own), recording to '
            f'{self._recorder.folder if self._recorder else "(off)"}'
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the analyzer workers and the incident timer."""
        assert self.config is not None and self._analysis is not None
        self._analysis.start()
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._work.timer(1.0 / self.config.tick_rate_hz, self._tick)
        self._work.timer(0.5, self._watch_camera, clock=steady)
        if self._person_pub is not None:
            self._work.timer(0.1, self._publish_person, clock=steady)
        self._publish_open()
        return super().on_activate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what on_configure created; finish the recording."""
        self._core = None
        self._close_recorder()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop, destroy, and finish the recording (its summary and footer)."""
        result = super().on_shutdown(state)
        self._close_recorder()
        return result

    def before_exit(self) -> None:
        """The process ends (SIGINT, SIGTERM, parent gone): stop the workers, finish the file."""
        self.stop_work()
        self._close_recorder()

    def _open_recorder(self, config: PerceptionConfig) -> IncidentRecorder | None:
        if not config.recording:
            return None
        folder = config.recording_folder or str(
            Path(os.environ.get('ROS_HOME') or Path.home() / '.ros')
            / 'muse_supervisor' / 'incidents'
        )  # fmt: skip
        clock = self.get_clock()
        return IncidentRecorder(
            folder, max_file_size=int(config.recording_max_file_mb * 2**20),
            namespace=self.get_namespace(), clock=lambda: int(clock.now().nanoseconds),
        )  # fmt: skip

    def _close_recorder(self) -> None:
        with self._lock:
            recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    def stop_work(self) -> None:
        """Stop the timers of ``on_activate`` and the analysis process."""
        self._work.destroy()
        if self._analysis is not None:
            self._analysis.stop()

    def _create_entities(self, config: PerceptionConfig) -> None:
        publisher, subscribe = self.entities.publisher, self.entities.subscription
        self._incident_pub = publisher(Incident, 'incidents', _RELIABLE)
        self._open_pub = publisher(IncidentList, 'incidents/open', LATCHED)
        self._person_pub = (
            publisher(Bool, 'person_in_zone', LATCHED) if config.publish_person_in_zone else None
        )
        # The camera on a node and thread of its own (InputThread): a frame's dispatch never
        # waits on the dozen other entities of this node.
        camera = self.entities.keep(lambda thread: thread.stop(), InputThread(self, 'camera'))
        camera.subscribe(Image, 'image', self._on_image, qos_profile_sensor_data)
        camera.subscribe(
            CompressedImage, 'image/compressed', self._on_compressed, qos_profile_sensor_data
        )
        camera.start()
        subscribe(Alarm, 'alarms', self._on_alarm, _RELIABLE)
        subscribe(DiagnosticArray, 'diagnostics', self._on_diagnostics, _RELIABLE)
        subscribe(Log, '/rosout', self._on_log, _RELIABLE)
        subscribe(String, 'vda5050/state', self._on_vda_state, _RELIABLE)
        subscribe(MissionState, 'mission_state', self._on_mission, LATCHED)
        subscribe(Odometry, 'odom', self._on_odom, 10)
        subscribe(BatteryState, 'battery_state', self._on_battery, 10)
        # What others decided and did about the incidents, into the same recording.
        if self._recorder is not None:
            for msg_type, topic, method, profile in (
                (RecoveryProposal, 'recovery_proposals', 'record_proposal', PROPOSALS),
                (OperatorDecision, 'operator_decisions', 'record_decision', _RELIABLE),
                (OperatorAction, 'operator_actions', 'record_action', _RELIABLE),
                (ExecutionOutcome, 'execution_outcomes', 'record_outcome', _RELIABLE),
            ):  # fmt: skip
                subscribe(msg_type, topic, partial(self._record_with, method), profile)
        self.entities.service(UpdateIncident, 'incidents/update', self._on_update)
        self.entities.service(GetIncidentContext, 'incidents/context', self._on_context)
        for qos in (LATCHED, 10):  # latched drivers and periodic ones alike
            subscribe(Bool, 'estop', self._on_estop, qos)
            if not config.publish_person_in_zone:
                subscribe(Bool, 'person_in_zone', self._on_person, qos)

    # ----- the core --------------------------------------------------------------------------
    def _now(self) -> float:
        return float(self.get_clock().now().nanoseconds) * 1e-9

    def _publish(self, changed: list[IncidentSnapshot], due: bool = False) -> None:
        """Publish what the throttle lets out now (``due``: also what it held long enough)."""
        now = self._now()
        with self._lock:
            send = self._throttle.offer(changed, now) + (self._throttle.due(now) if due else [])
        with self._images_lock:
            key_frames = dict(self._key_frames)
        for snapshot in send:
            msg = incident_msg(snapshot, key_frames, self._evidence_limit)
            self._incident_pub.publish(msg)
            self._record(msg)
        if send:
            self._publish_open()

    def _record(self, msg: Incident) -> None:
        """Write the update to the recording (flushed: a crash loses nothing published)."""
        self._record_with('record_incident', msg)

    def _record_with(self, method: str, msg: Any) -> None:
        """Write ``msg`` with the recorder's ``method`` (each flushes: none recorded is lost)."""
        recorder = self._recorder  # written to outside the node's lock: fsync takes its time
        if recorder is None:
            return
        try:
            getattr(recorder, method)(msg)
        except RecorderError as error:  # a full disk (or a closed recorder) must not stop us
            self.get_logger().error(f'recording: {error}', throttle_duration_sec=10.0)

    def _keep_key_frame(self, frame: FrameRef, changed: list[IncidentSnapshot]) -> None:
        """Record the analysed frame when it opened an incident or changed its kind or severity.

        The key frames: the first of an incident and one at each change of what it is, not
        every frame. Evidence from that frame then cites it (``data_ref``).
        """
        recorder = self._recorder
        with self._images_lock:
            message = self._recent_images.get(frame.sequence)
        if recorder is None or message is None:
            return
        with self._images_lock:
            news = [s for s in changed if self._keyed.get(s.id) != (int(s.kind), int(s.severity))]
            if not news or (frame.topic, frame.stamp) in self._key_frames:
                return
        try:
            reference = recorder.record_evidence_frame(message, frame.topic)
        except RecorderError as error:
            self.get_logger().error(f'recording: {error}', throttle_duration_sec=10.0)
            return
        with self._images_lock:  # workers of several analyzers may get here at once
            self._key_frames[(frame.topic, frame.stamp)] = reference
            while len(self._key_frames) > 256:  # the oldest references are in the recording
                self._key_frames.pop(next(iter(self._key_frames)))
            for snapshot in news:
                self._keyed[snapshot.id] = (int(snapshot.kind), int(snapshot.severity))

    def _publish_open(self) -> None:
        core = self._core
        if core is None:
            return
        now = self._now()
        with self._lock:
            snapshots = core.tracker.incidents(now)
        self._open_pub.publish(
            incident_list_msg(self._robot_id, snapshots, now, self._evidence_limit)
        )

    def _feed(self, call: Any, *args: Any) -> None:
        """Call a core input method with ``now`` under the lock, and publish what changed."""
        if self._core is None:
            return
        with self._lock:
            changed = call(*args, self._now())
        self._publish(changed)

    def _tick(self) -> None:
        if self._core is None:
            return
        with self._lock:
            changed = self._core.tick(self._now())
        self._publish(changed, due=True)

    # ----- services ---------------------------------------------------------------------------
    def _on_update(self, request: Any, response: Any) -> Any:
        """A lifecycle step from the reasoner, the HMI or the executor."""
        core = self._core
        response.accepted = False
        if core is None:
            response.message = 'perception is not configured'
            return response
        try:
            action = IncidentAction(request.action)
        except ValueError:
            known = ', '.join(f'{a.value} ({a.name.lower()})' for a in IncidentAction)
            response.message = f'unknown action {request.action}; expected one of {known}'
            return response
        now = self._now()
        with self._lock:
            try:
                snapshot = core.apply(
                    action, request.incident_id, request.actor, request.reason, now
                )
            except UnknownIncidentError:
                response.message = f'no incident {request.incident_id!r} here'
                return response
            except ValueError as error:  # an illegal step, no actor, no reason to dismiss
                response.message = str(error)
                current = core.tracker.snapshot(request.incident_id, now)
                response.incident = incident_msg(current, evidence_limit=self._evidence_limit)
                return response
        response.accepted = True
        response.message = f'{action.name.lower()}: {snapshot.state.name.lower()}'
        response.incident = incident_msg(snapshot, evidence_limit=self._evidence_limit)
        self.get_logger().info(
            f'incident {snapshot.id}: {response.message} ({request.actor}'
            f'{": " + request.reason if request.reason else ""})'
        )
        self._publish([snapshot])
        return response

    def _on_context(self, request: Any, response: Any) -> Any:
        """The reasoner's context bundle for one incident, as JSON."""
        core = self._core
        response.found = False
        if core is None:
            response.message = 'perception is not configured'
            return response
        with self._lock:
            try:
                bundle = core.context(request.incident_id, self._now())
            except UnknownIncidentError:
                response.message = f'no incident {request.incident_id!r} here'
                return response
        response.found = True
        response.context_json = json.dumps(bundle.to_dict())
        return response

    # ----- inputs ----------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self._take_frame(
            msg,
            lambda analysis, sequence: analysis.put_image(
                encoding=msg.encoding, height=msg.height, width=msg.width, step=msg.step,
                is_bigendian=msg.is_bigendian, data=msg.data, stamp=seconds(msg.header.stamp),
                frame_id=msg.header.frame_id, topic=self.resolve_topic_name('image'),
                sequence=sequence,
            ),
        )  # fmt: skip

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._take_frame(
            msg,
            lambda analysis, sequence: analysis.put_compressed(
                format=msg.format, data=msg.data, stamp=seconds(msg.header.stamp),
                frame_id=msg.header.frame_id,
                topic=self.resolve_topic_name('image/compressed'), sequence=sequence,
            ),
        )  # fmt: skip

    def _take_frame(self, message: Any, hand_over: Any) -> None:
        """Hand the frame's bytes to the analysis process (never waits for an analyzer)."""
        self._sequence += 1
        with self._images_lock:  # the last few messages, for the key frames of the recording
            self._recent_images[self._sequence] = message
            self._recent_images.pop(self._sequence - 16, None)
        self._last_frame = Clock(clock_type=ClockType.STEADY_TIME).now().nanoseconds * 1e-9
        if self._analysis is not None:
            try:
                hand_over(self._analysis, self._sequence)
            except ValueError as error:
                self._on_refused_frame(self._sequence, str(error))

    def _on_refused_frame(self, sequence: int, reason: str) -> None:
        """A frame that cannot be analysed (undecodable, too large): said at most every 10 s."""
        self.get_logger().error(f'camera frame refused: {reason}', throttle_duration_sec=10.0)

    def _on_analysis(
        self, analyzer: str, frame: FrameRef, observations: list[Observation]
    ) -> None:
        """An analyzer's results (on the analysis process's result thread)."""
        core = self._core
        if core is None:
            return
        changed: list[IncidentSnapshot] = []
        with self._lock:
            for observation in observations:
                changed.extend(core.on_observation(observation, self._now()))
                if observation.signal == PERSON_DETECTED:
                    self._person_seen = observation.active
        self._keep_key_frame(frame, changed)
        self._publish(changed)

    def _watch_camera(self) -> None:
        """A stream that stops is evidence of a camera fault; frames coming back clear it."""
        config, core = self.config, self._core
        if config is None or core is None or self._last_frame is None:
            return
        now_steady = Clock(clock_type=ClockType.STEADY_TIME).now().nanoseconds * 1e-9
        lost = now_steady - self._last_frame > config.camera_stale_timeout
        if lost == self._stream_lost:
            return
        self._stream_lost = lost
        topic = self.resolve_topic_name('image')
        summary = (
            f'no camera frame for {config.camera_stale_timeout:g} s' if lost else 'frames again'
        )
        observation = Observation(
            STREAM_LOST, EvidenceSource.CAMERA, topic, 'perception_node', summary, self._now(),
            active=lost,
        )  # fmt: skip
        self._feed(core.on_derived, observation)

    def _publish_person(self) -> None:
        if self._person_pub is not None and self._person_seen is not None:
            self._person_pub.publish(Bool(data=self._person_seen))

    def _on_alarm(self, msg: Alarm) -> None:
        if self._core is not None:
            alarm = alarms.Alarm(
                msg.source, msg.code, Severity(min(int(msg.severity), 3)), bool(msg.active),
                msg.text, tuple((kv.key, kv.value) for kv in msg.values),
                seconds(msg.header.stamp), msg.header.frame_id,
            )  # fmt: skip
            self._feed(self._core.on_alarm, alarm)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        if self._core is None:
            return
        stamp = seconds(msg.header.stamp)
        statuses = []
        for status in msg.status:
            try:
                statuses.append(
                    alarms.DiagnosticStatus.from_wire(
                        status.level, status.name, status.message, status.hardware_id,
                        tuple((kv.key, kv.value) for kv in status.values), stamp,
                    )
                )  # fmt: skip
            except ValueError as error:
                self.get_logger().warning(
                    f'diagnostic status refused: {error}', throttle_duration_sec=10.0
                )
        self._feed(self._core.on_diagnostics, statuses)

    def _on_vda_state(self, msg: String) -> None:
        """A VDA 5050 state as JSON (a bridge of the fleet's MQTT broker); refused: logged."""
        if self._core is None:
            return
        try:
            state = alarms.vda_state_from_json(msg.data, self.resolve_topic_name('vda5050/state'))
            if state.stamp <= 0.0:  # the JSON gave no timestamp: when it came
                state = replace(state, stamp=self._now())
            self._feed(self._core.on_vda_state, state)  # raises before it publishes
        except ValueError as error:
            self.get_logger().warning(
                f'VDA 5050 state refused: {error}', throttle_duration_sec=10.0
            )

    def _on_log(self, msg: Log) -> None:
        if self._core is None or not msg.name.startswith(self._log_prefix):
            return
        line = alarms.LogLine(
            int(msg.level), msg.name, msg.msg, seconds(msg.stamp), msg.file, msg.function,
            int(msg.line),
        )  # fmt: skip
        self._feed(self._core.on_log, line)

    def _on_mission(self, msg: MissionState) -> None:
        if self._core is None:
            return
        goal = msg.step_goal
        has_goal = bool(goal.header.frame_id)
        snapshot = MissionSnapshot(
            mission_id=msg.mission_id, status=MissionStatus(min(int(msg.status), 5)),
            step_index=int(msg.step_index), step_count=int(msg.step_count),
            step_id=msg.step_id, step_description=msg.step_description,
            step_elapsed=seconds(msg.step_elapsed), step_budget=seconds(msg.step_budget),
            expected_payload=msg.expected_payload, stamp=seconds(msg.header.stamp),
            goal=(float(goal.pose.position.x), float(goal.pose.position.y), 0.0)
            if has_goal else None,
            goal_frame=goal.header.frame_id,
        )  # fmt: skip
        self._feed(self._core.on_mission, snapshot)

    def _on_odom(self, msg: Odometry) -> None:
        if self._core is not None:
            self._feed(self._core.on_odom, seconds(msg.header.stamp))

    def _on_battery(self, msg: BatteryState) -> None:
        if self._core is not None:
            self._feed(
                self._core.on_battery, float(msg.percentage), int(msg.power_supply_status),
                seconds(msg.header.stamp),
            )  # fmt: skip

    def _on_estop(self, msg: Bool) -> None:
        if self._core is not None:
            self._feed(self._core.on_estop, bool(msg.data), self._now())

    def _on_person(self, msg: Bool) -> None:
        if self._core is not None:
            self._feed(self._core.on_person, bool(msg.data), self._now())


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``perception_node`` executable."""
    return run(PerceptionNode, args)
