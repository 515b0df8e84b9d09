"""Host groups: Swarm nodes chosen by labels, grown by cloning and shrunk safely.

``model`` (Host), ``planning`` (pure rules), ``cluster`` (what the manager needs of the
Swarm, as a protocol), ``providers/`` (machines: netns, libcloud), ``manager`` (add and
remove hosts), ``settings`` (the ``hosts:`` config, and where ``backends/swarm``'s
implementations are plugged in: nothing else here speaks the Engine API).
"""
