"""Run a sync Socket.IO app as ``__main__`` and, once it has exited, report what it left
running: ``python exit_probe.py APP.py`` writes JSON to the file named by ``EXIT_REPORT``.

Imports nothing that eventlet or gevent patch before the app (it monkey-patches first).
"""

import os
import runpy
import sys

app_path = sys.argv[1]
sys.argv = sys.argv[1:]
code = 0
try:
    runpy.run_path(app_path, run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    import gc
    import json
    import threading

    from socketio_cloud.sync import SyncClusterManager

    managers = [o for o in gc.get_objects() if isinstance(o, SyncClusterManager)]
    report = {
        "managers": len(managers),
        "closed": [m._closed for m in managers],
        "loop_running": [m._loop_thread.running for m in managers],
        "inbox_closed": [m._inbox is None or m._inbox.closed for m in managers],
        "node_ready": [m.cluster.is_ready for m in managers],
        "non_daemon_threads": [
            t.name
            for t in threading.enumerate()
            if not t.daemon and t is not threading.main_thread() and t.name != "MainThread"
        ],
    }
    with open(os.environ["EXIT_REPORT"], "w") as report_file:
        json.dump(report, report_file)
sys.exit(code)
