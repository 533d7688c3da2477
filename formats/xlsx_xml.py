"""The XML of an .xlsx read as XML: expat (the standard library's streaming parser) reads the
shared strings, and any sheet the fast path of formats/xlsx_stream.py does not take, a block
at a time, so memory is a block and a row whatever the producer wrote: namespace prefixes,
attributes in any order or quoting, CDATA, comments, UTF-16, cells without references,
lower-case references, rich text with phonetic runs.

Text is what ECMA-376 says it is: XML's entities and line-end normalisation (``\\r\\n`` is
``\\n`` unless written ``&#13;``), then the ``_xHHHH_`` escapes of ST_Xstring (``_x000D_`` a
carriage return, ``_x005F_`` an underscore). A DTD is refused: no OOXML part has one, and it
is how entity bombs and external entities come in.
"""
from __future__ import annotations

import re
from typing import Callable
from xml.parsers import expat

from targets.errors import BadInputError

MAIN = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",  # transitional
        "http://purl.oclc.org/ooxml/spreadsheetml/main")  # strict
BLOCK = 1 << 18  # 256 KB: as fast as 1 MB, 7 MB less at the peak
_X = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ENTITY = re.compile(r"&(?:(lt)|(gt)|(amp)|(quot)|(apos)|#([0-9]+)|#x([0-9A-Fa-f]+));")
ENTITY = re.compile(rb"&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);")
_NAMED = {1: "<", 2: ">", 3: "&", 4: '"', 5: "'"}


def unescape_x(text: str) -> str:
    """ECMA-376's ``_xHHHH_`` escapes decoded (UTF-16 code units: a surrogate pair joins)."""
    if "_x" not in text:
        return text
    out = _X.sub(lambda m: chr(int(m.group(1), 16)), text)
    if any("\ud800" <= ch <= "\udfff" for ch in out):
        out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return out


def _entity(m: re.Match) -> str:
    for group in (1, 2, 3, 4, 5):
        if m.group(group):
            return _NAMED[group]
    return chr(int(m.group(6))) if m.group(6) else chr(int(m.group(7), 16))


def xml_text(raw: bytes) -> str:
    """Character data as an XML parser gives it, from UTF-8 bytes whose every ``&`` starts one
    of XML's five entities or a character reference (the fast path checks that first)."""
    text = raw.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    return text


def column_index(letters: str | bytes) -> int:
    """``A`` → 0, ``AB`` → 27 (lower case too: XML allows it, Excel reads it)."""
    if isinstance(letters, bytes):
        letters = letters.decode()
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def parser(path: str, part: str) -> expat.XMLParserType:
    """An expat parser with namespaces resolved (``uri local``) that refuses a DTD."""
    p = expat.ParserCreate(namespace_separator=" ")
    p.buffer_text, p.buffer_size = True, 1 << 16

    def no_dtd(*_):
        raise BadInputError(path, f"{part} declares a DTD, which no .xlsx part has (an entity bomb?)")
    p.StartDoctypeDeclHandler = no_dtd
    return p


def local(name: str) -> str | None:
    """The local name of an element in SpreadsheetML's namespace, else None."""
    uri, _, name = name.rpartition(" ")
    return name if uri in MAIN else None


def feed(p: expat.XMLParserType, path: str, part: str, data: bytes, final: bool = False) -> None:
    try:
        p.Parse(data, final)
    except expat.ExpatError as e:
        raise BadInputError(path, f"{part} is not well-formed XML ({expat.errors.messages[e.code]}, line "
                                  f"{e.lineno})") from e


_PLAIN_SI = re.compile(rb'<si><t(?: xml:space="preserve")?+>([^<]*+)</t></si>|<si/>')
_FIRST_SI = re.compile(rb"<si\b")


def utf8(start: bytes) -> bool:
    """Whether a part's first bytes are UTF-8 XML (no UTF-16 mark, no other encoding declared)."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or start[:1] == b"\0" or start[1:2] == b"\0":
        return False
    found = re.match(rb"""(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)""", start)
    return found is None or found.group(1).lower() in (b"utf-8", b"utf8")


def fast_head(path: str, part: str, head: bytes, root: str) -> bool:
    """Whether a part's head (all before its first row or string) allows the fast path: UTF-8,
    parsed by expat without fault, ``root`` in SpreadsheetML, which is the default namespace."""
    if not utf8(head):
        return False
    p = parser(path, part)
    roots: list[str] = []
    defaults: list[str] = []
    p.StartElementHandler = lambda name, _a: roots.append(name)
    p.StartNamespaceDeclHandler = lambda prefix, uri: defaults.append(uri) if prefix is None else None
    feed(p, path, part, head)
    return bool(roots) and local(roots[0]) == root and bool(defaults) and all(u in MAIN for u in defaults)


def canonical(chunk: bytes, tag: bytes, found: list) -> bool:
    """Whether the fast expression's ``found`` read ``chunk`` exactly as XML: it matched every
    ``<tag``, and the chunk has no comment, CDATA, processing instruction, prefixed element of
    that name or entity but XML's own (``b"!" in`` first: a byte search is 80 times faster)."""
    if (b"!" in chunk and b"<!" in chunk) or (b"?" in chunk and b"<?" in chunk) or b":" + tag in chunk:
        return False
    if b"&" in chunk and chunk.count(b"&") != len(ENTITY.findall(chunk)):
        return False
    return len(found) == chunk.count(b"<" + tag)


def _plain_strings(path: str, part: str, fh) -> list[str] | None:
    """The shared strings when every ``<si>`` is one plain ``<t>`` as Excel writes most (None
    at the first that is not: rich text, phonetic runs, prefixes, CDATA)."""
    strings: list[str] = []
    buf = b""
    while (first := _FIRST_SI.search(buf)) is None:
        block = fh.read(BLOCK)
        if not block or len(buf) > BLOCK:
            return None if first is None and block else strings if not block and fast_head(path, part, buf, "sst") \
                else None
        buf += block
    if not fast_head(path, part, buf[:first.start()], "sst"):
        return None
    buf = buf[first.start():]
    while True:
        block = fh.read(BLOCK)
        buf += block
        cut = buf.rfind(b"</si>") + 5 if block else len(buf)
        if cut < 5:
            if len(buf) > 2 * BLOCK:
                return None
            continue
        chunk, buf = buf[:cut], buf[cut:]
        if not block:
            chunk = chunk[:chunk.rfind(b"</sst>")] if b"</sst>" in chunk else chunk
        found = _PLAIN_SI.findall(chunk)
        if not canonical(chunk, b"si", found):
            return None
        for raw in found:
            text = xml_text(raw) if b"&" in raw or b"\r" in raw else raw.decode("utf-8")
            strings.append(unescape_x(text) if "_x" in text else text)
        if not block:
            return strings


def shared_strings(path: str, part: str, open_part: Callable) -> list[str]:
    """Every ``<si>`` as its text: runs joined, phonetic guides (``<rPh>``) left out. Read by
    one expression where every string is plain (checked as a sheet's rows are), else by expat."""
    with open_part() as fh:
        plain = _plain_strings(path, part, fh)
    if plain is not None:
        return plain
    strings: list[str] = []
    pieces: list[str] = []
    state = {"in_t": False, "rph": 0}
    p = parser(path, part)

    def start(name, _attrs):
        n = local(name)
        if n == "t":
            state["in_t"] = not state["rph"]
        elif n == "rPh":
            state["rph"] += 1
        elif n == "si":
            pieces.clear()

    def end(name):
        n = local(name)
        if n == "t":
            state["in_t"] = False
        elif n == "rPh":
            state["rph"] -= 1
        elif n == "si":
            strings.append(unescape_x("".join(pieces)))

    def chars(data):
        if state["in_t"]:
            pieces.append(data)
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, chars
    with open_part() as fh:
        while block := fh.read(BLOCK):
            feed(p, path, part, block)
    feed(p, path, part, b"", True)
    return strings


_NAMES = {f"{ns} {name}": name for ns in MAIN for name in ("c", "v", "is", "t", "rPh", "row", "sheetData")}
_COLUMNS: dict[str, int] = {}
_DIGITS = "0123456789"
CACHE = 1 << 14  # converted values remembered (numbers, dates, booleans: they repeat)


class SheetXml:
    """A sheet part through expat, fed a block at a time; each cell goes to ``put(row, col,
    text)`` (1-based row, 0-based column) as ``cell(style, kind, text, ref)`` makes its text."""

    def __init__(self, path: str, part: str, cell: Callable, put: Callable):
        self.path, self.part, self.cell, self.put = path, part, cell, put
        self.p = p = parser(path, part)
        p.StartElementHandler, p.EndElementHandler = self._start, self._end
        p.CharacterDataHandler = self._chars
        self.in_data = False  # inside <sheetData>
        self.row = 0  # the current <row>'s number
        self.col = -1  # the last cell's column in it
        self.attrs: dict | None = None  # the current <c>'s attributes
        self.value: list[str] | None = None  # its <v> text
        self.inline: list[str] | None = None  # its <is> text
        self.collect: list[str] | None = None  # where character data goes now
        self.rph = 0
        self.cache: dict = {}

    def feed(self, data: bytes, final: bool = False) -> None:
        feed(self.p, self.path, self.part, data, final)

    def _start(self, name, attrs):
        n = _NAMES.get(name)
        if n is None or (not self.in_data and n != "sheetData"):
            return
        if n == "c":
            self.attrs, self.value, self.inline = attrs, None, None
        elif n == "v":
            if self.attrs is not None:
                self.value = self.collect = []
        elif n == "is":
            if self.attrs is not None:
                self.inline = []
        elif n == "t":
            if self.inline is not None and not self.rph:
                self.collect = self.inline
        elif n == "row":
            r = attrs.get("r", "")
            self.row = int(r) if r.isdigit() else self.row + 1
            self.col = -1
        elif n == "rPh":
            self.rph += 1
        else:
            self.in_data = True

    def _end(self, name):
        n = _NAMES.get(name)
        if n is None or not self.in_data:
            return
        if n == "c":
            if self.attrs is not None:
                self._cell(self.attrs)
                self.attrs = None
        elif n == "v" or n == "t":
            self.collect = None
        elif n == "rPh":
            self.rph -= 1
        elif n == "sheetData":
            self.in_data = False

    def _chars(self, data):
        if self.collect is not None:
            self.collect.append(data)

    def _cell(self, attrs: dict) -> None:
        ref = attrs.get("r")
        row, col = self.row, self.col + 1
        if ref:
            letters = ref.rstrip(_DIGITS)
            col = _COLUMNS.get(letters)
            if col is None:
                if not (0 < len(letters) <= 3 and letters.isascii() and letters.isalpha()):
                    raise BadInputError(self.path, f"cell reference {ref!r} is not a cell reference (column letters, "
                                                   "then the row number)", row=self.row)
                col = _COLUMNS[letters] = column_index(letters)
            if len(letters) < len(ref):
                row = int(ref[len(letters):])
        self.col = col
        kind = attrs.get("t")
        if kind == "inlineStr" and self.inline is not None:
            text = "".join(self.inline)
        elif self.value is not None:
            text = "".join(self.value)
        else:
            self.put(row, col, "")
            return
        if kind in ("s", "str", "inlineStr"):
            self.put(row, col, self.cell(attrs.get("s"), kind, text, ref or f"row {row} column {col + 1}"))
            return
        key = (attrs.get("s"), kind, text)  # numbers, dates, booleans repeat: their text is remembered
        shown = self.cache.get(key)
        if shown is None:
            shown = self.cell(key[0], kind, text, ref or f"row {row} column {col + 1}")
            if len(self.cache) >= CACHE:
                self.cache.clear()
            self.cache[key] = shown
        self.put(row, col, shown)
