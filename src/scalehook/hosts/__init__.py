"""Host groups: Swarm nodes chosen by labels, grown by cloning and shrunk safely.

``model`` (Host), ``planning`` (pure rules), ``cluster`` (the Swarm's nodes),
``providers/`` (machines: netns, libcloud), ``manager`` (add and remove hosts).
"""
