"""Building a station from its config: the inspection path per camera, results, parts and telemetry.

The composition root (``edge_inspect.app``) only wires what these modules build; ``evaluation/`` and
``bench/`` build the same inspection path from here, without the daemon.
"""
