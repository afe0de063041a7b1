"""MediaLab's test kit, one job per module (shaped like ``nats.testing``).

- ``waiting``: ``eventually()``, the one way a test waits for state held elsewhere;
- ``telegram``: ``RecordingSession``, an aiogram session that answers like Telegram and records;
- ``images``: PNG/JPEG builders for inputs;
- ``e2e``: the end-to-end stack (``medialab_devstack.launcher.Stack`` with test knobs) and user helpers;
- ``faceswap``, ``chaos``, ``fuzz``: the harnesses of the face-swap, chaos and fuzz suites;
- ``billing``, ``fal``, ``wavespeed``: each service's own test helpers.
"""
