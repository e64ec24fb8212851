"""moto's AWS server on 127.0.0.1 in a process of its own, for the AWS scenarios.

It applies the same SNS binary-attribute fix as the tests (see
``tests.support.moto.fix_moto_sns_binary_attributes``: without it moto loses every
broadcast), prints ``{"event": "ready", "endpoint": ...}`` and serves until stdin closes.
"""

from __future__ import annotations

import json
import logging
import sys

from tests.support.moto import MotoServer, fix_moto_sns_binary_attributes


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # one log line per request would cost more CPU than the request
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fix_moto_sns_binary_attributes()
    server = MotoServer()
    server.start()
    sys.stdout.write(json.dumps({"event": "ready", "endpoint": server.endpoint_url}) + "\n")
    sys.stdout.flush()
    try:
        for line in sys.stdin:
            if line.strip() and json.loads(line).get("cmd") == "exit":
                break
    finally:
        server.stop()


if __name__ == "__main__":
    main()
