"""Tools for developing against socketio-cloud on one machine (not needed in production).

:mod:`socketio_cloud.dev.aws` runs an AWS stand-in (moto's SNS, SQS and S3) on loopback; it
needs the ``dev-aws`` extra.
"""
