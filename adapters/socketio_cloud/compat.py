"""Every use of python-socketio internals outside the fan-out seam, in one place.

The managers subclass python-socketio's ``AsyncManager`` and build on its public manager
hooks (``pre_connect``, ``is_pre_connected``, ``basic_enter_room``, ...). A cluster node
needs a few things python-socketio offers no public API for; this module is the only one
that reaches for them (Engine.IO's internals are :mod:`socketio_cloud.fanout`'s):

- the CONNECT packet's ``auth``, which Node reports in every socket's handshake while
  python-socketio hands it to the connect handler only: ``AsyncServer._handle_connect`` is
  wrapped (:func:`capture_connect_auth`);
- the namespaces a server serves, which a node announces before any client connects: the
  server's handler tables ``handlers``, ``namespace_handlers`` and ``namespaces``
  (:func:`served_namespaces`);
- forgetting a disconnected socket in time proportional to its own rooms (the base class
  scans every room of the namespace): the manager's ``pending_connect`` and
  ``pending_disconnect`` tables (:func:`forget_pending`);
- reading the sessions of thousands of sockets at once (``fetch_sockets``) without a
  coroutine per socket: the Engine.IO server's ``sockets`` table, read as python-socketio's
  own ``get_session`` reads it, only where neither server overrides that method
  (:func:`session_reader`);
- listing the Engine.IO ids of a room for a broadcast: python-socketio keeps each room as a
  ``bidict``, whose views run about ten Python calls per read; the plain dict underneath
  (``_fwdm``) is read instead when there is one (:func:`room_eio_sids`);
- connection state recovery (:mod:`socketio_cloud.recovery`), only when it is on: the
  CONNECT reply ``{sid, pid}`` and the disconnect reason, seen by wrapping
  ``AsyncServer._send_packet`` and ``AsyncServer._handle_disconnect``
  (:func:`install_recovery_hooks`), and a recovered socket registered under its old sid,
  which needs the manager's ``pending_connect`` table (:func:`pre_connect_as`). These have
  no fallback: recovery cannot work without them, so turning it on where they are unavailable
  raises :class:`UnsupportedVersionError`.

How it is guarded, as the fan-out seam is:

- **versions**: :data:`SUPPORTED` is the range of python-socketio this was written against,
  checked once per process (:func:`check_socketio_version`). A release older than its lower
  bound lacks the public hooks the managers need, so :class:`UnsupportedVersionError` is
  raised when the manager is given to a server. A newer or unrecognised release is logged
  once and every touch here takes its public fallback;
- **shapes**: each touch re-checks that the attribute it reads exists and has the expected
  type or signature, and falls back otherwise;
- **fallbacks**: no ``auth`` in handshakes; awaiting ``get_session`` for each socket; the
  namespaces that have sockets (plus ``/``) as the served ones; the base class's
  ``basic_disconnect``;
- **switch**: setting a manager's ``socketio_internals`` attribute to False before it is
  given to a server turns every touch off.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from importlib import metadata
from typing import Any

import engineio
import socketio
from socketio import packet as sio_packet

from .exceptions import UnsupportedVersionError

__all__ = [
    "SUPPORTED",
    "capture_connect_auth",
    "check_socketio_version",
    "forget_pending",
    "install_recovery_hooks",
    "internals_enabled",
    "pre_connect_as",
    "served_namespaces",
    "session_reader",
    "socketio_version",
]

logger = logging.getLogger("socketio_cloud.compat")

#: python-socketio releases this module was written and tested against: the lower bound is
#: the first release with ``AsyncManager.pre_connect``/``is_pre_connected`` (5.18.0), the
#: upper bound the next major version.
SUPPORTED = ">=5.18,<6"
_LOWEST = (5, 18)
_MAJOR = 5

_checked: dict[str, bool] = {}

#: The parameters of ``AsyncServer._handle_connect`` the auth capture wraps.
_HANDLE_CONNECT_PARAMETERS = ["eio_sid", "namespace", "data"]
#: The parameters of the methods the recovery hooks wrap.
_SEND_PACKET_PARAMETERS = ["eio_sid", "pkt"]
_HANDLE_DISCONNECT_PARAMETERS = ["eio_sid", "namespace", "reason"]


def room_eio_sids(members: Mapping[str, str]) -> list[str]:
    """The values of a room map (sid -> Engine.IO id), in order, as a new list."""
    if type(members) is not dict:
        forward = getattr(members, "_fwdm", None)
        if type(forward) is dict:
            return list(forward.values())
    return list(members.values())


def socketio_version() -> str | None:
    """The installed python-socketio version, or None when it is not installed as a
    distribution (a vendored copy)."""
    try:
        return metadata.version("python-socketio")
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> tuple[int, int] | None:
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return None
    return major, minor


def check_socketio_version(version: str | None = None) -> bool:
    """Whether python-socketio internals may be used with ``version`` (default: installed).

    Raises :class:`UnsupportedVersionError` for a release older than :data:`SUPPORTED`;
    returns False, with a warning logged once, for a newer or unrecognised one.
    """
    if version is None:
        version = socketio_version() or "unknown"
    known = _checked.get(version)
    if known is not None:
        return known
    parsed = _major_minor(version)
    if parsed is not None and parsed[0] == _MAJOR and parsed < _LOWEST:
        raise UnsupportedVersionError(
            f"socketio_cloud needs python-socketio{SUPPORTED} (found {version}): older releases "
            "lack AsyncManager.pre_connect; upgrade python-socketio"
        )
    usable = parsed is not None and parsed[0] == _MAJOR
    if not usable:
        logger.warning(
            "python-socketio %s is outside the tested range %s; socketio_cloud will not use "
            "its internals (handshake.auth stays empty, only namespaces with sockets are "
            "announced before a client connects)",
            version,
            SUPPORTED,
        )
    _checked[version] = usable
    return usable


def internals_enabled(manager: Any) -> bool:
    """Whether the touches may run for a server's manager: its ``socketio_internals`` switch
    is on and the installed python-socketio is in the supported range."""
    if getattr(manager, "socketio_internals", True) is False:
        return False
    return check_socketio_version()


def capture_connect_auth(server: Any, pending: MutableMapping[tuple[str, str], Any]) -> bool:
    """Wrap ``server._handle_connect`` (private) so that, while python-socketio handles a
    CONNECT packet, its payload (``auth``) sits in ``pending`` under ``(eio_sid,
    namespace)``; the manager's ``pre_connect``, which runs inside, reads it there.

    Returns False, changing nothing, when the server does not look as expected.
    """
    if not internals_enabled(getattr(server, "manager", None)):
        return False
    original: Any = getattr(server, "_handle_connect", None)
    if not _is_handle_connect(original):
        logger.info("cannot observe CONNECT packets; handshake.auth will be empty")
        return False

    async def handle_connect(eio_sid: str, namespace: str | None, data: Any) -> Any:
        key = (eio_sid, namespace or "/")
        pending[key] = data
        try:
            return await original(eio_sid, namespace, data)
        finally:
            pending.pop(key, None)

    server._handle_connect = handle_connect
    return True


def _is_handle_connect(method: Any) -> bool:
    return _has_parameters(method, _HANDLE_CONNECT_PARAMETERS)


def _has_parameters(method: Any, expected: list[str]) -> bool:
    if method is None or not inspect.iscoroutinefunction(method):
        return False
    try:
        parameters = list(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return False
    return parameters == expected


def install_recovery_hooks(
    server: Any,
    pid_for: Callable[[str, str], str | None],
    on_disconnect: Callable[[str, str, str], Awaitable[None]],
) -> None:
    """Wrap two private methods of ``server`` for connection state recovery:

    - ``_send_packet``: a CONNECT reply ``{sid}`` gets the socket's private session id,
      ``pid_for(namespace, sid)``, as Node sends ``{sid, pid}``;
    - ``_handle_disconnect``: before python-socketio runs the disconnect handler and forgets
      the socket, ``await on_disconnect(eio_sid, namespace, reason)`` (the reason is
      python-engineio's; the manager has no other way to learn it).

    Raises :class:`UnsupportedVersionError` when the installed python-socketio is outside
    :data:`SUPPORTED`, internals are switched off, or the methods do not look as expected.
    """
    manager = getattr(server, "manager", None)
    if not internals_enabled(manager):
        raise UnsupportedVersionError(
            f"connection state recovery needs python-socketio{SUPPORTED} internals "
            f"(found {socketio_version()}, socketio_internals="
            f"{getattr(manager, 'socketio_internals', True)})"
        )
    send_packet: Any = getattr(server, "_send_packet", None)
    handle_disconnect: Any = getattr(server, "_handle_disconnect", None)
    if not _has_parameters(send_packet, _SEND_PACKET_PARAMETERS) or not _has_parameters(
        handle_disconnect, _HANDLE_DISCONNECT_PARAMETERS
    ):
        raise UnsupportedVersionError(
            "connection state recovery cannot hook into this python-socketio "
            f"{socketio_version()}: AsyncServer._send_packet/_handle_disconnect changed"
        )

    async def send_packet_with_pid(eio_sid: str, pkt: Any) -> Any:
        data = getattr(pkt, "data", None)
        if (
            getattr(pkt, "packet_type", None) == sio_packet.CONNECT
            and isinstance(data, dict)
            and isinstance(data.get("sid"), str)
        ):
            pid = pid_for(pkt.namespace or "/", data["sid"])
            if pid is not None:
                pkt.data = {**data, "pid": pid}
        return await send_packet(eio_sid, pkt)

    async def handle_disconnect_with_reason(
        eio_sid: str, namespace: str | None, reason: str | None = None
    ) -> Any:
        if reason is not None:
            await on_disconnect(eio_sid, namespace or "/", reason)
        return await handle_disconnect(eio_sid, namespace, reason)

    server._send_packet = send_packet_with_pid
    server._handle_disconnect = handle_disconnect_with_reason


def pre_connect_as(manager: Any, eio_sid: str, namespace: str, sid: str) -> bool:
    """What python-socketio's ``pre_connect`` does, but under a given ``sid`` (a recovered
    socket keeps its old one): the socket enters the namespace and its own room and waits in
    ``pending_connect`` until the connect handler accepts it.

    Returns False, changing nothing, when the manager's table is unavailable or ``sid`` or
    ``eio_sid`` is already in the namespace.
    """
    pending = getattr(manager, "pending_connect", None)
    if not internals_enabled(manager) or not isinstance(pending, dict):
        return False
    everyone = manager.rooms.get(namespace, {}).get(None)
    if everyone is not None and (sid in everyone or eio_sid in everyone.inverse):
        return False
    manager.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
    manager.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
    pending.setdefault(namespace, []).append(sid)
    return True


def session_reader(server: Any, namespace: str) -> Callable[[str], Any] | None:
    """A function that returns the session of a socket of ``namespace`` from its Engine.IO
    sid, doing what ``await server.get_session(sid, namespace)`` does (KeyError for a socket
    that is gone) without a coroutine; None, to await ``get_session`` instead, when the
    server or its Engine.IO server is not python-socketio's own asyncio one or overrides
    ``get_session``.
    """
    if not internals_enabled(getattr(server, "manager", None)):
        return None
    eio = getattr(server, "eio", None)
    sockets = getattr(eio, "sockets", None)
    if not (
        isinstance(sockets, dict)
        and _unchanged(server, "get_session", socketio.AsyncServer.get_session)
        and _unchanged(eio, "get_session", engineio.AsyncServer.get_session)
        and _unchanged(eio, "_get_socket", engineio.AsyncServer._get_socket)
    ):
        return None

    def read(eio_sid: str) -> Any:
        socket = sockets.get(eio_sid)
        if socket is None or socket.closed:
            raise KeyError(eio_sid)
        return socket.session.setdefault(namespace, {})

    return read


def _unchanged(obj: Any, name: str, original: Any) -> bool:
    """Whether ``obj.name`` is ``original``: not replaced on the instance or by a subclass."""
    return name not in getattr(obj, "__dict__", {}) and getattr(type(obj), name, None) is original


def served_namespaces(server: Any) -> set[str]:
    """The namespaces ``server`` has handlers for or lists, without the ``*`` wildcard.

    Reads the server's ``handlers`` and ``namespace_handlers`` tables and its
    ``namespaces`` option (no public getter exists); empty when they are unavailable.
    """
    if server is None or not internals_enabled(getattr(server, "manager", None)):
        return set()
    served: set[str] = set()
    for table in (_table(server, "handlers"), _table(server, "namespace_handlers")):
        served.update(ns for ns in table if isinstance(ns, str) and ns != "*")
    listed = getattr(server, "namespaces", None)
    if isinstance(listed, list | tuple | set):
        served.update(ns for ns in listed if isinstance(ns, str) and ns != "*")
    return served


def _table(server: Any, name: str) -> dict[Any, Any]:
    table = getattr(server, name, None)
    return table if isinstance(table, dict) else {}


def forget_pending(manager: Any, sid: str, namespace: str) -> bool:
    """Drop ``sid`` from the manager's ``pending_connect`` and ``pending_disconnect`` tables
    (``{namespace: [sid, ...]}``), as the base ``basic_disconnect`` does after leaving rooms.

    Returns False, changing nothing, when the tables are unavailable: the caller then uses
    the base class's ``basic_disconnect``.
    """
    if not internals_enabled(manager):
        return False
    tables = [getattr(manager, name, None) for name in ("pending_connect", "pending_disconnect")]
    if not all(isinstance(table, dict) for table in tables):
        return False
    for table in tables:
        assert isinstance(table, dict)
        sids = table.get(namespace)
        if isinstance(sids, list) and sid in sids:
            sids.remove(sid)
            if not sids:
                del table[namespace]
    return True
