"""Pulumi components deploying a socketio-cloud cluster on Google Cloud and on Azure.

``gcp`` and ``azure`` hold the components of each cloud (import the one you deploy to: each
needs its provider package); ``settings`` reads a stack's configuration into one typed value.
The programs in ``pulumi/gcp`` and ``pulumi/azure`` compose them.
"""
