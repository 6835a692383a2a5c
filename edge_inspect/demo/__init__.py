"""``edge-inspect demo``: the shipped model on the shipped samples, through an embedded loopback broker."""
