"""Perception's ROS-free core: inputs become observations, observations become incidents.

``vision``: the pluggable image analyzers (image health, corridor, OCR, markers, people);
``scheduler``: the latest-frame policy that runs them; ``alarms``: the rules that read
``Alarm``, ``/diagnostics``, ``/rosout`` and VDA 5050 state as real drivers and Nav2 send them;
``signals``: mission, battery, e-stop, person and odometry inputs; ``rules``: the rules files;
``incidents``: de-duplication, hysteresis, lifecycle and verification; ``context``: what the
reasoner gets per incident; ``core``: :class:`~muse_supervisor.perception.core.PerceptionCore`,
the one object the node calls.
"""
