"""Manifests as YAML that ``kubectl apply -f -`` reads as exactly the planned objects, fast.

A dry run of 10,000 processes prints over half a million scalars. PyYAML spends almost
all of that time in Python even with libyaml's emitter (``CSafeDumper``): it builds a
node per value, asks the resolver's regular expressions about every string, and only
then hands the nodes to C. Manifests hold nothing but mappings with string keys, lists,
strings, numbers, booleans and null, so :func:`dump_manifest` writes that subset
directly, in PyYAML's own block layout (``default_flow_style=False``, two-space indent,
sequences under a key not indented), and scalars exactly as the dumper below would. A
manifest holding anything else (a date or bytes from a ``pod_yml``, a key that is not a
string or too long to be a simple key) is handed to that dumper whole, so every value
still means the same thing to every reader. The one layout difference: long
double-quoted strings are never folded at 80 columns, which no reader sees.

Quoting is the same for both: a string stays bare only when it is plainly a string to
YAML 1.1 (kubectl's Go reader) and 1.2 alike; anything else is double-quoted, with every
character outside printable ASCII escaped (PyYAML's ``allow_unicode=False``).
"""

import functools
import re

#: Strings that may stay unquoted: they start with a letter and hold only characters no YAML
#: resolver gives a meaning to, so they are strings in YAML 1.1 (kubectl's Go YAML) and 1.2 alike.
_PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
#: ... except these words, which YAML 1.1 reads as booleans or null (in any capitalisation).
_YAML11_WORDS = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null"))
#: What needs an escape inside double quotes: the quote, the backslash, anything not printable ASCII.
_NEEDS_ESCAPE = re.compile(r'["\\]|[^\x20-\x7e]')
_ESCAPES = {"\0": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v", "\x0c": "f",
            "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L",
            "\u2029": "P"}
#: PyYAML writes a key longer than this as a complex key (``? key``); such manifests go to it.
_MAX_SIMPLE_KEY = 128
#: How many distinct strings keep their rendering: names, images and values repeat across pods.
_CACHE_LIMIT = 1 << 17


class _Unusual(Exception):
    """A value outside what :func:`dump_manifest` writes itself: the whole manifest goes to PyYAML."""


def str_style(text):
    """``None`` (bare) when ``text`` is plainly a string to every YAML reader, else ``'"'``."""
    return None if _PLAIN_SAFE.fullmatch(text) and text.lower() not in _YAML11_WORDS else '"'


def _escape(match):
    char = match.group()
    short = _ESCAPES.get(char)
    if short is not None:
        return "\\" + short
    code = ord(char)
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


_strings = {}
_keys = {}


def _string(text):
    """``text`` as a YAML scalar; remembered, since most strings of a big plan repeat."""
    rendered = _strings.get(text)
    if rendered is None:
        rendered = text if str_style(text) is None else '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'
        if len(_strings) >= _CACHE_LIMIT:
            _strings.clear()
        _strings[text] = rendered
    return rendered


def _key(key):
    """``key:`` as a mapping key starts its line; remembered like strings."""
    rendered = _keys.get(key)
    if rendered is None:
        if type(key) is not str or len(key) > _MAX_SIMPLE_KEY:
            raise _Unusual("key")
        rendered = _string(key) + ":"
        if len(_keys) >= _CACHE_LIMIT:
            _keys.clear()
        _keys[key] = rendered
    return rendered


def _float(value):
    """As PyYAML's SafeRepresenter writes a float."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _scalar(value):
    """Any value written on its own line's end: strings are looked up first, being most values."""
    kind = type(value)
    if kind is str:
        rendered = _strings.get(value)
        return rendered if rendered is not None else _string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is float:
        return _float(value)
    if kind is dict and not value:
        return "{}"
    if kind is list and not value:
        return "[]"
    raise _Unusual(kind.__name__)


def _write(value, indent, prefix, out):
    """Append ``value`` as block YAML to ``out`` (lines): ``prefix`` starts its first line
    (indentation and any ``- `` markers); its other lines start at column ``indent``."""
    append, keys, strings = out.append, _keys, _strings
    kind = type(value)
    if kind is dict and value:
        pad = " " * indent
        head = prefix
        for key, item in value.items():
            line = keys.get(key)
            if line is None:
                line = _key(key)
            line = head + line
            head = pad
            item_kind = type(item)
            if item_kind is str:
                rendered = strings.get(item)
                append(f"{line} {rendered if rendered is not None else _string(item)}")
            elif item_kind is dict and item:
                append(line)
                inner = indent + 2
                _write(item, inner, " " * inner, out)
            elif item_kind is list and item:
                append(line)
                _write(item, indent, pad, out)  # PyYAML does not indent a sequence under a key
            else:
                append(f"{line} {_scalar(item)}")
    elif kind is list and value:
        pad = " " * indent
        head = prefix
        for item in value:
            marker = head + "- "
            head = pad
            item_kind = type(item)
            if (item_kind is dict or item_kind is list) and item:
                _write(item, indent + 2, marker, out)
            else:
                append(marker + _scalar(item))
    else:
        append(prefix + _scalar(value))


def dump_manifest(obj):
    """One manifest as YAML text ending in a newline, meaning exactly ``obj`` to PyYAML and to kubectl."""
    out = []
    try:
        _write(obj, 0, "", out)
    except _Unusual:
        return dump_with_pyyaml(obj)
    out.append("")
    return "\n".join(out)


@functools.lru_cache(maxsize=None)
def _kubectl_safe_dumper():
    """PyYAML's dumper (libyaml's emitter when present) quoting strings by :func:`str_style`.

    PyYAML alone leaves bare whatever *it* reads back as a string, so ``y``, ``on``,
    ``5e-2`` or ``0o17`` stay unquoted; kubectl reads YAML 1.1 through Go and would send
    ``true``, ``0.05`` or ``15`` instead (or refuse the object). Built on first use.
    """
    import yaml

    class KubectlSafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        pass

    def represent_str(dumper, text):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=str_style(text))

    KubectlSafeDumper.add_representer(str, represent_str)
    return yaml, KubectlSafeDumper


def dump_with_pyyaml(obj, pure_python=False):
    """``obj`` through PyYAML with the same quoting (``pure_python``: its Python emitter, not libyaml's)."""
    yaml, dumper = _kubectl_safe_dumper()
    if pure_python and dumper.__bases__[0] is not yaml.SafeDumper:
        dumper = type("KubectlSafePythonDumper", (yaml.SafeDumper,), {})
        dumper.add_representer(str, lambda d, text: d.represent_scalar("tag:yaml.org,2002:str", text,
                                                                         style=str_style(text)))
    return yaml.dump(obj, Dumper=dumper, sort_keys=False, default_flow_style=False)
