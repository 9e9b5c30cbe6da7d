"""Perception's ROS-free core: camera frames, alarms and mission state become observations, and
observations become incidents with evidence and a lifecycle.

``vision``: the pluggable image analyzers (image health, corridor, OCR, markers, people);
``alarms``: the rules that read ``Alarm``, ``/diagnostics`` and ``/rosout`` as real drivers and
Nav2 send them; ``incidents``: de-duplication, hysteresis, lifecycle and verification.
"""
