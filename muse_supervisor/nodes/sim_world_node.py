"""``sim_world_node``: a simulated robot and its world, for demos and end-to-end tests.

A thin node around :class:`muse_supervisor.sim.robot.SimulatedRobot`: it takes ``cmd_vel`` (the
safety gate's output) and publishes what a robot's drivers would, under the names a Gazebo +
``ros_gz_bridge`` set-up uses (docs/SIMULATOR.md has the bridge file), so the stack runs the same
against this node or against Gazebo:

========================  ====================================  ==========================
topic                     type                                  when
========================  ====================================  ==========================
``odom``                  ``nav_msgs/Odometry``                 every step (``rate_hz``)
``obstacle_distance``     ``sensor_msgs/Range`` (REP 117)       every step
``person_in_zone``        ``std_msgs/Bool``, latched            every step (``safety_scanner``)
``estop``                 ``std_msgs/Bool``, latched            10 Hz
``camera/image_raw``      ``sensor_msgs/Image`` (rgb8)          ``camera_rate_hz``
``camera/camera_info``    ``sensor_msgs/CameraInfo``            with each image
``battery_state``         ``sensor_msgs/BatteryState``          1 Hz
``diagnostics``           ``diagnostic_msgs/DiagnosticArray``   1 Hz
``alarms``                ``muse_supervisor/Alarm``             as the timeline raises them
``mission_state``         ``muse_supervisor/MissionState``      latched, 1 Hz
``/clock``                ``rosgraph_msgs/Clock``               every step (``publish_clock``)
========================  ====================================  ==========================

It serves the mission services the gate calls (``resume_mission``, ``retry_step`` and
``reset_fault/<device>`` for each device the timeline names), as ``std_srvs/Trigger``, and
``start_timeline``, which starts a timeline held by ``timeline_wait``.

Time: the world is stepped by a steady-clock timer, ``1 / rate_hz`` of simulation time per step.
With ``publish_clock`` that simulation time is published on ``/clock`` and stamps every message
(run the other nodes with ``use_sim_time``); otherwise messages carry the node clock's time. The
camera renders on a thread of its own, so a frame (tens of milliseconds) never delays odometry.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import BatteryState, CameraInfo, Image, Range
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger

from muse_supervisor.domain import Pose2D
from muse_supervisor.msg import Alarm, MissionState
from muse_supervisor.nodes.conversions import time_msg
from muse_supervisor.nodes.installed import share_dir
from muse_supervisor.nodes.lifecycle import Entities, SupervisorNode, run
from muse_supervisor.nodes.qos import LATCHED
from muse_supervisor.params import ConfigError, param
from muse_supervisor.sim.camera import CameraModel, render
from muse_supervisor.sim.camera import covered as covered_frame
from muse_supervisor.sim.physics import RobotModel
from muse_supervisor.sim.robot import BaseDynamics, SimulatedRobot
from muse_supervisor.sim.timeline import Timeline, TimelineError, load_timeline
from muse_supervisor.sim.world import WorldError, load_world

_RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')  # a device name usable in a service name


@dataclass(frozen=True)
class SimWorldConfig:
    """Parameters of ``sim_world`` (see ``config/sim_world.yaml``)."""

    world: str = param(
        '', 'World file (map_server map, places, zones); empty: the shipped warehouse '
        '(share/muse_supervisor/config/maps/warehouse_world.yaml).',
    )  # fmt: skip
    timeline: str = param(
        '', 'Scenario timeline (YAML, see docs/SIMULATOR.md); empty: nothing happens.'
    )
    timeline_wait: bool = param(
        False, 'Hold the timeline until the start_timeline service is called (the demo starts '
        'it once the whole stack is up); false: it starts with the node.',
    )  # fmt: skip
    start: str = param(
        'charger_1', 'Place of the world the robot starts at; empty: start_x, start_y, '
        'start_yaw.',
    )  # fmt: skip
    start_x: float = param(0.0, 'Start position x in the map frame (m), when start is empty.')
    start_y: float = param(0.0, 'Start position y in the map frame (m), when start is empty.')
    start_yaw: float = param(0.0, 'Start heading (rad), when start is empty.')
    rate_hz: float = param(
        50.0, 'Rate at which the simulated robot is stepped and odometry published (Hz).',
        minimum=1.0, maximum=1000.0,
    )  # fmt: skip
    publish_clock: bool = param(
        False, 'Publish the simulation time on /clock and stamp messages with it (run the '
        'other nodes with use_sim_time).',
    )  # fmt: skip
    battery: float = param(0.9, 'State of charge at start, in [0, 1].', minimum=0.0, maximum=1.0)
    robot_radius: float = param(
        0.3, 'Radius of the robot footprint (m).', minimum=0.05, maximum=3.0
    )
    max_linear_accel: float = param(
        1.5, "The base's own linear acceleration limit (m/s^2).", minimum=0.01, maximum=20.0
    )
    max_angular_accel: float = param(
        4.0, "The base's own angular acceleration limit (rad/s^2).", minimum=0.01, maximum=50.0
    )
    command_timeout: float = param(
        0.5, 'The base stops when no cmd_vel has come for this long (s), as a base driver does.',
        minimum=0.05, maximum=10.0,
    )  # fmt: skip
    safety_scanner: bool = param(
        True, 'Publish person_in_zone from the protective field around the robot, as a safety '
        "scanner would (turn off when another node publishes it).",
    )  # fmt: skip
    camera_rate_hz: float = param(
        10.0, 'Camera frame rate (Hz); 0: no camera.', minimum=0.0, maximum=60.0
    )
    camera_width: int = param(640, 'Camera image width (px).', minimum=32, maximum=4096)
    camera_height: int = param(480, 'Camera image height (px).', minimum=24, maximum=4096)
    camera_hfov: float = param(
        70.0, 'Horizontal field of view of the camera (degrees).', minimum=10.0, maximum=170.0
    )
    camera_noise: float = param(
        2.0, 'Sensor noise of the camera (standard deviation, grey levels): a real camera never '
        'sends two identical frames.', minimum=0.0, maximum=50.0,
    )  # fmt: skip


class SimWorldNode(SupervisorNode[SimWorldConfig]):
    """A simulated robot and its world (see the module docstring for topics and time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('sim_world', SimWorldConfig, **kwargs)
        self._lock = threading.Lock()
        self._robot: SimulatedRobot | None = None
        self._camera: CameraModel | None = None
        self._work = Entities(self)  # what on_activate starts
        self._camera_thread: threading.Thread | None = None
        self._camera_stop = threading.Event()
        self._clock_pub: Any = None
        self._sim_time = 0.0
        self._steps = 0

    # ----- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the world and the timeline; create publishers, subscription and services."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        try:
            world_path = config.world or str(share_dir() / 'config/maps/warehouse_world.yaml')
            world = load_world(Path(world_path))
            timeline = load_timeline(Path(config.timeline)) if config.timeline else Timeline()
            start = _start_pose(config, world)
        except (WorldError, TimelineError, ConfigError, OSError) as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        robot = RobotModel(radius=config.robot_radius)
        base = BaseDynamics(
            max_linear_accel=config.max_linear_accel,
            max_angular_accel=config.max_angular_accel,
            command_timeout=config.command_timeout,
        )
        self._sim_time = 0.0
        self._robot = SimulatedRobot(
            world, start, timeline, robot, base, config.battery, 0.0, config.timeline_wait
        )
        self._camera = CameraModel(
            config.camera_width, config.camera_height, math.radians(config.camera_hfov),
            noise=config.camera_noise,
        )  # fmt: skip
        self._create_entities(config, timeline)
        self.get_logger().info(
            f'configured: world {world.name} ({world_path}), start ({start.x:.2f}, '
            f'{start.y:.2f}, {start.yaw:.2f}), timeline '
            f'{config.timeline or "(none)"} with {len(timeline.events)} events'
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start stepping the world and the camera."""
        assert self.config is not None
        config = self.config
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._work.timer(1.0 / config.rate_hz, self._step, clock=steady)
        self._work.timer(0.1, self._publish_estop, clock=steady)
        self._work.timer(1.0, self._publish_slow, clock=steady)
        if config.camera_rate_hz > 0:
            self._camera_stop.clear()
            self._camera_thread = threading.Thread(
                target=self._camera_loop, args=(1.0 / config.camera_rate_hz,), daemon=True,
                name='sim_camera',
            )  # fmt: skip
            self._camera_thread.start()
        self._publish_estop()
        self._publish_slow()
        return super().on_activate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what on_configure created."""
        self._robot = None
        return super().on_cleanup(state)

    def before_exit(self) -> None:
        """The process ends: stop the camera thread before the node's publishers go away."""
        self.stop_work()

    def stop_work(self) -> None:
        """Stop the timers and the workers of ``on_activate``."""
        self._work.destroy()
        self._camera_stop.set()
        if self._camera_thread is not None:
            self._camera_thread.join(timeout=2.0)
            self._camera_thread = None

    def _create_entities(self, config: SimWorldConfig, timeline: Timeline) -> None:
        publisher = self.entities.publisher
        self._odom_pub = publisher(Odometry, 'odom', 10)
        self._range_pub = publisher(Range, 'obstacle_distance', 10)
        # Transient local, as the e-stop: the gate subscribes with both durabilities, and a
        # latched publisher matches both (a volatile one would not match the latched one).
        self._person_pub = (
            publisher(Bool, 'person_in_zone', LATCHED) if config.safety_scanner else None
        )
        self._estop_pub = publisher(Bool, 'estop', LATCHED)
        self._image_pub = publisher(Image, 'camera/image_raw', qos_profile_sensor_data)
        self._info_pub = publisher(CameraInfo, 'camera/camera_info', qos_profile_sensor_data)
        self._battery_pub = publisher(BatteryState, 'battery_state', 10)
        self._diagnostics_pub = publisher(DiagnosticArray, 'diagnostics', 10)
        self._alarm_pub = publisher(Alarm, 'alarms', _RELIABLE)
        self._mission_pub = publisher(MissionState, 'mission_state', LATCHED)
        self._clock_pub = publisher(ClockMsg, '/clock', 10) if config.publish_clock else None
        self.entities.subscription(Twist, 'cmd_vel', self._on_cmd_vel, 10)
        devices = {
            str(event.spec[key])
            for event in timeline.events
            for key in ('source', 'name')
            if event.action in ('alarm', 'diagnostic') and key in event.spec
        }
        services = ['resume_mission', 'retry_step']
        services += [f'reset_fault/{device}' for device in sorted(devices) if _NAME.match(device)]
        for service in services:
            self.entities.service(Trigger, service, self._serve(service))
        self.entities.service(Trigger, 'start_timeline', self._on_start_timeline)

    # ----- inputs ----------------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist) -> None:
        with self._lock:
            if self._robot is not None:
                self._robot.command(float(msg.linear.x), float(msg.angular.z), self._sim_time)

    def _on_start_timeline(self, request: Any, response: Any) -> Any:
        with self._lock:
            assert self._robot is not None
            started = self._robot.start_timeline(self._sim_time)
        response.success = started
        response.message = 'timeline started' if started else 'the timeline already runs'
        self.get_logger().info(f'start_timeline: {response.message}')
        return response

    def _serve(self, service: str) -> Any:
        def serve(request: Any, response: Any) -> Any:
            with self._lock:
                assert self._robot is not None
                response.success, response.message = self._robot.trigger(service)
            self.get_logger().info(f'{service}: {response.message}')
            return response

        return serve

    # ----- the world -------------------------------------------------------------------------
    def _stamp(self) -> Any:
        """The stamp of what is published now: simulation time, or the node clock's."""
        if self._clock_pub is not None:
            return time_msg(self._sim_time)
        return self.get_clock().now().to_msg()

    def _step(self) -> None:
        assert self.config is not None and self._robot is not None
        with self._lock:
            self._steps += 1
            self._sim_time = self._steps / self.config.rate_hz
            robot = self._robot
            robot.step(self._sim_time)
            pose, reading, person = robot.pose, robot.range_ahead(), robot.person_in_zone()
            alarms = robot.take_alarms()
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=time_msg(self._sim_time)))
        stamp = self._stamp()
        self._odom_pub.publish(_odometry(pose, stamp))
        low, high = robot.robot.sensor_range
        self._range_pub.publish(
            Range(
                header=Header(stamp=stamp, frame_id='range_front'),
                radiation_type=Range.INFRARED, field_of_view=0.05,
                min_range=low, max_range=high, range=reading,
            )
        )  # fmt: skip
        if self._person_pub is not None:
            self._person_pub.publish(Bool(data=person))
        for alarm in alarms:
            self._alarm_pub.publish(
                Alarm(
                    header=Header(stamp=stamp, frame_id=alarm.source), source=alarm.source,
                    code=alarm.code, severity=alarm.severity, active=alarm.active,
                    text=alarm.text, values=[KeyValue(key=k, value=v) for k, v in alarm.values],
                )
            )  # fmt: skip

    def _publish_estop(self) -> None:
        robot = self._robot
        if robot is not None:
            self._estop_pub.publish(Bool(data=robot.estop_engaged))

    def _publish_slow(self) -> None:
        """Battery, diagnostics and mission: at 1 Hz, as drivers publish them."""
        robot = self._robot
        if robot is None:
            return
        with self._lock:
            battery, reports = robot.battery_reading(), robot.diagnostics()
            mission, now = robot.mission, self._sim_time
        stamp = self._stamp()
        self._battery_pub.publish(
            BatteryState(
                header=Header(stamp=stamp), voltage=battery.voltage, current=battery.current,
                percentage=battery.percentage, present=True,
                power_supply_status=(
                    BatteryState.POWER_SUPPLY_STATUS_CHARGING if battery.charging
                    else BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
                ),
                power_supply_technology=BatteryState.POWER_SUPPLY_TECHNOLOGY_LION,
            )
        )  # fmt: skip
        self._diagnostics_pub.publish(
            DiagnosticArray(
                header=Header(stamp=stamp),
                status=[
                    DiagnosticStatus(
                        level=bytes([r.level]), name=r.name, message=r.message,
                        hardware_id=r.hardware_id,
                        values=[KeyValue(key=k, value=v) for k, v in r.values],
                    )
                    for r in reports
                ],
            )
        )  # fmt: skip
        elapsed = max(0.0, now - mission.step_started) if mission.mission_id else 0.0
        self._mission_pub.publish(
            MissionState(
                header=Header(stamp=stamp), mission_id=mission.mission_id, status=mission.status,
                step_index=mission.step_index, step_count=mission.step_count,
                step_id=mission.step_id, step_description=mission.step_description,
                step_elapsed=_duration(elapsed), step_budget=_duration(mission.step_budget),
                expected_payload=mission.expected_payload,
            )
        )  # fmt: skip

    def _camera_loop(self, period: float) -> None:
        """Render and publish frames at the camera rate until told to stop."""
        assert self._camera is not None
        camera = self._camera
        rng = np.random.default_rng()
        next_frame = time.monotonic()
        while not self._camera_stop.is_set():
            robot = self._robot
            if robot is None:
                return
            with self._lock:
                pose, scene, covered = robot.pose, robot.scene(), robot.camera_covered
            stamp = self._stamp()  # the moment the frame shows
            pixels = (covered_frame(camera, rng) if covered
                      else render(robot.world.map, pose, scene, camera, rng))  # fmt: skip
            header = Header(stamp=stamp, frame_id='camera_optical')
            self._image_pub.publish(
                Image(
                    header=header, height=camera.height, width=camera.width, encoding='rgb8',
                    is_bigendian=0, step=camera.width * 3, data=pixels.tobytes(),
                )
            )  # fmt: skip
            self._info_pub.publish(_camera_info(camera, header))
            next_frame += period
            self._camera_stop.wait(max(0.0, next_frame - time.monotonic()))


def _start_pose(config: SimWorldConfig, world: Any) -> Pose2D:
    if not config.start:
        return Pose2D(config.start_x, config.start_y, config.start_yaw)
    place = world.place(config.start)
    if place is None:
        names = sorted(p.name for p in world.places)
        raise ConfigError(f'start: no place {config.start!r} in the world; places: {names}')
    return Pose2D(place.x, place.y, place.yaw)


def _odometry(pose: Pose2D, stamp: Any) -> Odometry:
    msg = Odometry()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = stamp, 'odom', 'base_link'
    msg.pose.pose.position.x, msg.pose.pose.position.y = pose.x, pose.y
    msg.pose.pose.orientation.z = math.sin(pose.yaw / 2)
    msg.pose.pose.orientation.w = math.cos(pose.yaw / 2)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = pose.linear, pose.angular
    return msg


def _camera_info(camera: CameraModel, header: Header) -> CameraInfo:
    f, w, h = camera.focal, camera.width, camera.height
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return CameraInfo(
        header=header, width=w, height=h, distortion_model='plumb_bob', d=[0.0] * 5,
        k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )  # fmt: skip


def _duration(seconds: float) -> Duration:
    whole = int(seconds)
    return Duration(sec=whole, nanosec=int((seconds - whole) * 1e9))


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``sim_world_node`` executable."""
    return run(SimWorldNode, args)
