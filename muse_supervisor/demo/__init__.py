"""``muse-supervisor demo``: the scripted shift, its independent monitor and its score."""
