"""A small reader for protobuf text format and binary `google.protobuf.Struct`.

Enough for TensorFlow Metadata `schema.pbtxt` files as Merlin / NVTabular
write them, without depending on `protobuf` or `tensorflow_metadata`:

* text format: `field: scalar`, `field { message }` (or `field: {...}`,
  `<...>`), `#` comments, optional `,`/`;` separators, strings in `"..."` or
  `'...'` with C escapes (octal `\\NNN`, `\\xHH`, `\\n`, ...), adjacent string
  literals concatenated. Messages parse to `dict[field -> list[value]]` (every
  field may repeat); scalars stay tokens (`int`, `float`, `bool`, enum names
  as `str`, strings as `bytes`).
* binary `google.protobuf.Struct` (what NVTabular packs into
  `annotation.extra_metadata.value`): decoded to a plain dict.
"""

import re
import struct

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?(?![\w.]))
  | (?P<ident>[-+]?[A-Za-z_][\w.]*|\[[\w./]+\])
  | (?P<punct>[{}<>:;,\[\]])
""",
    re.VERBOSE,
)

_SIMPLE_ESCAPES = {
    "n": 10,
    "r": 13,
    "t": 9,
    "a": 7,
    "b": 8,
    "f": 12,
    "v": 11,
    "\\": 92,
    "'": 39,
    '"': 34,
    "?": 63,
}


def unescape(literal):
    """Bytes of a quoted text-format string literal (quotes included)."""
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in "01234567":
            j = i + 1
            while j < min(i + 4, len(body)) and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1 : j], 8) & 0xFF)
            i = j
        elif nxt in "xX":
            j = i + 2
            while j < min(i + 4, len(body)) and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[i + 2 : j], 16))
            i = j
        elif nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        else:
            raise ValueError(f"unknown escape \\{nxt} in string {literal[:40]!r}")
    return bytes(out)


def _tokens(text, source):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(
                f"{source}:{line}: cannot parse text proto near {text[pos : pos + 30]!r}"
            )
        kind = m.lastgroup
        if kind != "ws":
            yield kind, m.group(), line
        line += m.group().count("\n")
        pos = m.end()


def _scalar(kind, tok):
    if kind == "num":
        t = tok.rstrip("fF") if not tok.lower().startswith(("0x", "-0x", "+0x")) else tok
        if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", t):
            return int(t, 0) if not re.fullmatch(r"[-+]?0\d+", t) else int(t, 8)
        return float(t)
    if tok in ("true", "True", "t"):
        return True
    if tok in ("false", "False", "f"):
        return False
    if tok.lstrip("-+").lower() in ("inf", "infinity", "nan"):
        return float(tok)
    return tok  # an enum name


def parse(text, source="<text proto>"):
    """Parse protobuf text format into nested `dict[str, list]`.

    Raises:
        ValueError: a syntax error, naming `source` and the line.
    """
    toks = list(_tokens(text, source))
    pos = 0

    def err(msg):
        line = toks[min(pos, len(toks) - 1)][2] if toks else 1
        raise ValueError(f"{source}:{line}: {msg}")

    def message(close):
        nonlocal pos
        out = {}
        while True:
            if pos >= len(toks):
                if close is None:
                    return out
                err(f"missing closing {close!r}")
            kind, tok, _ = toks[pos]
            if close is not None and tok == close:
                pos += 1
                return out
            if kind != "ident":
                err(f"expected a field name, got {tok!r}")
            name = tok
            pos += 1
            if pos < len(toks) and toks[pos][1] == ":":
                pos += 1
            if pos >= len(toks):
                err(f"field {name!r} has no value")
            kind, tok, _ = toks[pos]
            if tok in ("{", "<"):
                pos += 1
                value = message("}" if tok == "{" else ">")
                out.setdefault(name, []).append(value)
            elif tok == "[":  # list syntax: field: [1, 2]
                pos += 1
                while toks[pos][1] != "]":
                    out.setdefault(name, []).append(_value())
                    if toks[pos][1] == ",":
                        pos += 1
                pos += 1
            else:
                out.setdefault(name, []).append(_value())
            if pos < len(toks) and toks[pos][1] in (",", ";"):
                pos += 1

    def _value():
        nonlocal pos
        kind, tok, _ = toks[pos]
        if kind == "str":
            data = b""
            while pos < len(toks) and toks[pos][0] == "str":
                data += unescape(toks[pos][1])
                pos += 1
            return data
        if kind in ("num", "ident"):
            pos += 1
            return _scalar(kind, tok)
        err(f"expected a value, got {tok!r}")

    return message(None)


# -- binary google.protobuf.Struct ----------------------------------------------


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint in protobuf Struct")
        b = buf[i]
        result |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) triples of one serialized message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in Struct")
        if i > len(buf):
            raise ValueError("truncated protobuf Struct")
        yield field, wire, value


def _decode_value(buf):
    # google.protobuf.Value: 1 null, 2 number (double), 3 string, 4 bool,
    # 5 struct, 6 list. A missing kind reads as None.
    out = None
    for field, _, value in _fields(buf):
        if field == 1:
            out = None
        elif field == 2:
            out = struct.unpack("<d", value)[0]
        elif field == 3:
            out = bytes(value).decode("utf-8")
        elif field == 4:
            out = bool(value)
        elif field == 5:
            out = decode_struct(value)
        elif field == 6:
            out = [_decode_value(v) for f, _, v in _fields(value) if f == 1]
    return out


def decode_struct(buf):
    """A serialized `google.protobuf.Struct` as a dict (numbers are floats)."""
    out = {}
    for field, _, entry in _fields(bytes(buf)):
        if field != 1:
            continue
        key, value = "", None
        for f, _, v in _fields(entry):
            if f == 1:
                key = bytes(v).decode("utf-8")
            elif f == 2:
                value = _decode_value(v)
        out[key] = value
    return out
