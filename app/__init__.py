"""The reference Socket.IO service of socketio-cloud: a chat across the nodes of a cluster.

``python -m app`` runs one node (see :mod:`app.config` for its environment variables);
``make demo`` runs three of them on an embedded AWS (:mod:`app.demo`).
"""
