"""AMQP 1.0 type system: encode Python values to bytes and decode them back.

Only what a broker double needs: every primitive type the SDKs send (so decoding never fails
on a valid peer), and explicit wrappers where Python has no matching type (symbols, unsigned
integers, timestamps, described values). Decoding returns plain Python values; symbols come
back as :class:`Symbol` (a ``str``) so they encode back as symbols.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any


class Symbol(str):
    """An AMQP symbol (ASCII name such as ``amqp:not-found``)."""


class UByte(int):
    """AMQP ubyte."""


class UShort(int):
    """AMQP ushort."""


class UInt(int):
    """AMQP uint."""


class ULong(int):
    """AMQP ulong."""


class Int(int):
    """AMQP int (32-bit signed)."""


class Timestamp(int):
    """AMQP timestamp: milliseconds since the Unix epoch."""


@dataclass(frozen=True)
class Described:
    """A described value: ``descriptor`` (ulong code or symbol) and the value it describes."""

    descriptor: Any
    value: Any


class DecodeError(ValueError):
    """Bytes that are not a valid AMQP 1.0 encoding."""


# --- encoding ---------------------------------------------------------------------------------


def encode(value: Any) -> bytes:
    """Encode one value with the smallest constructor for its type."""
    if value is None:
        return b"\x40"
    if isinstance(value, bool):
        return b"\x41" if value else b"\x42"
    if isinstance(value, Described):
        return b"\x00" + encode(_descriptor(value.descriptor)) + encode(value.value)
    if isinstance(value, Symbol):
        raw = value.encode("ascii")
        return (b"\xa3" + bytes([len(raw)]) if len(raw) < 256 else b"\xb3" + _u32(len(raw))) + raw
    if isinstance(value, Timestamp):
        return b"\x83" + struct.pack(">q", int(value))
    if isinstance(value, UByte):
        return b"\x50" + bytes([int(value)])
    if isinstance(value, UShort):
        return b"\x60" + struct.pack(">H", int(value))
    if isinstance(value, UInt):
        if value == 0:
            return b"\x43"
        if value < 256:
            return b"\x52" + bytes([int(value)])
        return b"\x70" + _u32(int(value))
    if isinstance(value, ULong):
        if value == 0:
            return b"\x44"
        if value < 256:
            return b"\x53" + bytes([int(value)])
        return b"\x80" + struct.pack(">Q", int(value))
    if isinstance(value, Int):
        if -128 <= value <= 127:
            return b"\x54" + struct.pack(">b", int(value))
        return b"\x71" + struct.pack(">i", int(value))
    if isinstance(value, int):
        if -128 <= value <= 127:
            return b"\x55" + struct.pack(">b", value)
        return b"\x81" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"\x82" + struct.pack(">d", value)
    if isinstance(value, uuid.UUID):
        return b"\x98" + value.bytes
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return (b"\xa1" + bytes([len(raw)]) if len(raw) < 256 else b"\xb1" + _u32(len(raw))) + raw
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return (b"\xa0" + bytes([len(raw)]) if len(raw) < 256 else b"\xb0" + _u32(len(raw))) + raw
    if isinstance(value, (list, tuple)):
        if not value:
            return b"\x45"
        body = b"".join(encode(item) for item in value)
        return b"\xd0" + _u32(len(body) + 4) + _u32(len(value)) + body
    if isinstance(value, dict):
        body = b"".join(encode(k) + encode(v) for k, v in value.items())
        return b"\xd1" + _u32(len(body) + 4) + _u32(len(value) * 2) + body
    raise TypeError(f"cannot encode {type(value).__name__} as AMQP")


def _descriptor(descriptor: Any) -> Any:
    return ULong(descriptor) if type(descriptor) is int else descriptor


def _u32(number: int) -> bytes:
    return struct.pack(">I", number)


def described_list(code: int, fields: list[Any]) -> Described:
    """A composite value (performative, section, terminus) with trailing nulls dropped."""
    while fields and fields[-1] is None:
        fields.pop()
    return Described(ULong(code), fields)


# --- decoding ---------------------------------------------------------------------------------

_FIXED: dict[int, tuple[int, str]] = {
    0x50: (1, ">B"),
    0x51: (1, ">b"),
    0x60: (2, ">H"),
    0x61: (2, ">h"),
    0x70: (4, ">I"),
    0x71: (4, ">i"),
    0x80: (8, ">Q"),
    0x81: (8, ">q"),
    0x72: (4, ">f"),
    0x82: (8, ">d"),
    0x73: (4, ">I"),  # char (UTF-32 code point)
}


def decode(data: bytes, offset: int = 0) -> tuple[Any, int]:
    """Decode the value at ``offset``; return it and the offset just after it."""
    try:
        return _decode(data, offset)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise DecodeError(f"truncated or invalid AMQP value at {offset}") from exc


def _decode(data: bytes, offset: int) -> tuple[Any, int]:
    code = data[offset]
    offset += 1
    if code == 0x00:
        descriptor, offset = _decode(data, offset)
        value, offset = _decode(data, offset)
        return Described(descriptor, value), offset
    return _decode_body(code, data, offset)


def _decode_body(code: int, data: bytes, offset: int) -> tuple[Any, int]:
    """Decode the bytes after constructor ``code`` (shared by plain values and arrays)."""
    if code == 0x40:
        return None, offset
    if code == 0x41:
        return True, offset
    if code == 0x42:
        return False, offset
    if code == 0x56:
        return data[offset] != 0, offset + 1
    if code in (0x43, 0x44):
        return 0, offset
    if code in (0x52, 0x53):
        return data[offset], offset + 1
    if code in (0x54, 0x55):
        return struct.unpack_from(">b", data, offset)[0], offset + 1
    if code == 0x45:
        return [], offset
    if code in _FIXED:
        size, fmt = _FIXED[code]
        value = struct.unpack_from(fmt, data, offset)[0]
        if code == 0x73:
            value = chr(value)
        return value, offset + size
    if code == 0x83:
        return Timestamp(struct.unpack_from(">q", data, offset)[0]), offset + 8
    if code == 0x98:
        raw = bytes(data[offset : offset + 16])
        if len(raw) != 16:
            raise IndexError("short uuid")
        return uuid.UUID(bytes=raw), offset + 16
    if code in (0x74, 0x84, 0x94):  # decimal32/64/128: kept raw
        size = {0x74: 4, 0x84: 8, 0x94: 16}[code]
        return bytes(data[offset : offset + size]), offset + size
    if code in (0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3):
        if code & 0xF0 == 0xA0:
            length, offset = data[offset], offset + 1
        else:
            length, offset = struct.unpack_from(">I", data, offset)[0], offset + 4
        raw = bytes(data[offset : offset + length])
        if len(raw) != length:
            raise IndexError("short string")
        offset += length
        if code in (0xA0, 0xB0):
            return raw, offset
        if code in (0xA1, 0xB1):
            return raw.decode("utf-8"), offset
        return Symbol(raw.decode("ascii")), offset
    if code in (0xC0, 0xD0, 0xC1, 0xD1):
        if code & 0xF0 == 0xC0:
            count, offset = data[offset + 1], offset + 2
        else:
            count = struct.unpack_from(">I", data, offset + 4)[0]
            offset += 8
        items = []
        for _ in range(count):
            item, offset = _decode(data, offset)
            items.append(item)
        if code in (0xC0, 0xD0):
            return items, offset
        return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}, offset
    if code in (0xE0, 0xF0):
        if code == 0xE0:
            count, offset = data[offset + 1], offset + 2
        else:
            count = struct.unpack_from(">I", data, offset + 4)[0]
            offset += 8
        element_code = data[offset]
        offset += 1
        if element_code == 0x00:
            raise DecodeError("arrays of described values are not supported")
        values = []
        for _ in range(count):
            value, offset = _decode_body(element_code, data, offset)
            values.append(value)
        return values, offset
    raise DecodeError(f"unknown AMQP constructor 0x{code:02x}")


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(key)
    if isinstance(key, dict):
        return tuple(key.items())
    return key


def field(values: list[Any], index: int, default: Any = None) -> Any:
    """Field ``index`` of a composite's list, or ``default`` when absent or null."""
    if index < len(values) and values[index] is not None:
        return values[index]
    return default
