"""The Content-Security-Policy of a page we write: its own inline code by hash, nothing else inline.

The build is deterministic, so the policy can name each inline `<script>` and `<style>` the page holds by its
sha256 instead of allowing `'unsafe-inline'`: a script that reaches the page some other way (an escaping failure,
an edit after the build) does not run. `<script type="application/json">` blocks are data, never executed, and
need no hash. Style attributes in markup (only embed.html's copy-paste snippet has them) are allowed by hash with
`'unsafe-hashes'`; styles set from JavaScript through the CSSOM (`el.style.x = ...`, what Leaflet does) are not
governed by CSP. Event-handler attributes are never allowed.

`policy(html, sources)` is the one function that computes a page's policy from its final text; `apply` writes it
into the page's `<meta http-equiv="Content-Security-Policy">`. The renderer computes it before any source text is
in the page (so an escaping failure cannot be hashed) and checks that the finished page needs no other hash;
publish checks that a built page holds no inline code its policy does not allow before it adds its own.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser

# Directives in the order written, with what each allows before `sources` add to it.
BASE: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "script-src": (),
    "style-src": (),
    "img-src": ("data:",),
    "connect-src": (),
    "font-src": (),
    "frame-src": (),
    "base-uri": (),
    "form-action": (),
}
META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
# Script types the browser executes (the HTML standard's JavaScript MIME type essences, and module); any other
# type (application/json, ...) is a data block.
JS_TYPES = {"", "module", "text/javascript", "application/javascript", "application/ecmascript",
            "application/x-ecmascript", "application/x-javascript", "text/ecmascript", "text/javascript1.0",
            "text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4",
            "text/javascript1.5", "text/jscript", "text/livescript", "text/x-ecmascript", "text/x-javascript"}


class _Inline(HTMLParser):
    """Collects the inline code of a document: scripts that run, style elements, style and on* attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.style_attrs: list[str] = []
        self.handlers: list[str] = []
        self._open: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if name == "style" and value is not None:
                self.style_attrs.append(value)
            elif name.startswith("on"):
                self.handlers.append(f"<{tag} {name}>")
        if tag == "script" and "src" not in a and (a.get("type") or "").strip().lower() in JS_TYPES:
            self._open = ("script", [])
        elif tag == "style":
            self._open = ("style", [])

    def handle_data(self, data):
        if self._open:
            self._open[1].append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            (self.scripts if tag == "script" else self.styles).append("".join(self._open[1]))
            self._open = None


def inline_code(html: str) -> _Inline:
    """The inline code of html (the browser's newline normalisation applied, as its hashes see the text)."""
    parser = _Inline()
    parser.feed(html.replace("\r\n", "\n").replace("\r", "\n"))
    parser.close()
    return parser


def sha256(text: str) -> str:
    """A CSP hash source for text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in items:
        seen.setdefault(x, None)
    return list(seen)


def policy(html: str, sources: Mapping[str, Iterable[str]] | None = None) -> str:
    """The policy for the final text of a page: BASE, plus `sources` ({directive: [source, ...]}, e.g. the tile
    hosts for img-src, `'self'` for connect-src), plus the sha256 of every inline script and style of html.
    A directive left with nothing allows nothing (`'none'`); a directive BASE does not name (`worker-src`,
    `media-src`, ...) is added after BASE's."""
    code = inline_code(html)
    extra = {k: list(v) for k, v in (sources or {}).items()}
    bad = sorted(k for k in extra if not re.fullmatch(r"[a-z]+(-[a-z]+)*", k) or not all(
        re.fullmatch(r"[^\s;,]+", v) for v in extra[k]))
    if bad:
        raise ValueError(f"not a CSP directive with sources: {', '.join(bad)}")
    hashes = {
        "script-src": [sha256(s) for s in code.scripts],
        "style-src": [sha256(s) for s in code.styles]
        + (["'unsafe-hashes'"] + [sha256(s) for s in code.style_attrs] if code.style_attrs else []),
    }
    parts = []
    for directive in [*BASE, *sorted(set(extra) - set(BASE))]:
        base = BASE.get(directive, ())
        values = _unique([*base, *extra.get(directive, []), *hashes.get(directive, [])])
        values = [v for v in values if v != "'none'"] or ["'none'"]
        parts.append(directive + " " + " ".join(values))
    return "; ".join(parts)


def parse(text: str) -> dict[str, list[str]]:
    """A policy as {directive: [source, ...]}."""
    out: dict[str, list[str]] = {}
    for part in text.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def read(html: str) -> str:
    """The policy in the page's CSP meta (exactly one must be there)."""
    found = META.findall(html)
    if len(found) != 1:
        raise ValueError(f"the page has {len(found)} Content-Security-Policy meta elements (expected 1)")
    return html_lib.unescape(found[0])


def host_sources(text: str) -> dict[str, list[str]]:
    """The sources of a policy that are not hashes, `'none'`, `'unsafe-hashes'` or BASE's: what a caller gave
    `policy` (to carry them over when the page changes)."""
    out = {}
    for directive, values in parse(text).items():
        keep = [v for v in values if not v.startswith("'sha256-") and v not in ("'none'", "'unsafe-hashes'")
                and v not in BASE.get(directive, ())]
        if keep:
            out[directive] = keep
    return out


def apply(html: str, sources: Mapping[str, Iterable[str]] | None = None) -> str:
    """html with its CSP meta set to `policy(html, sources)`."""
    from markupsafe import escape

    read(html)  # exactly one meta
    m = META.search(html)
    return html[:m.start(1)] + str(escape(policy(html, sources))) + html[m.end(1):]


# Anything that could start inline code in markup; text without it needs no parsing.
_HINT = re.compile(r"<\s*(script|style)\b|[\s\"'/]style\s*=|[\s\"'/]on[a-z]+\s*=", re.IGNORECASE)
# A JSON data block with no "<" inside (render.json_for_script escapes every one): inert, skipped by the scan.
_DATA_BLOCK = re.compile(r'<script type="application/json"( id="[A-Za-z0-9_-]+")?>[^<]*</script>')


def code_in(fragment: str) -> list[str]:
    """Inline code in a fragment of markup (scripts that run, styles, style and on* attributes); a quick scan
    first, so a large fragment of plain escaped text is not parsed."""
    if not _HINT.search(_DATA_BLOCK.sub("", fragment)):
        return []
    code = inline_code(fragment)
    return ([f"<script> {sha256(s)}" for s in code.scripts] + [f"<style> {sha256(s)}" for s in code.styles]
            + [f'style="{s}"' for s in code.style_attrs] + code.handlers)


def disallowed(html: str) -> list[str]:
    """Inline code in html that the page's own policy does not allow (empty for a page as we wrote it)."""
    allowed = parse(read(html))
    code = inline_code(html)
    bad = [f"<script> {sha256(s)}" for s in code.scripts if sha256(s) not in allowed.get("script-src", [])]
    bad += [f"<style> {sha256(s)}" for s in code.styles if sha256(s) not in allowed.get("style-src", [])]
    bad += [f'style="{s}"' for s in code.style_attrs
            if "'unsafe-hashes'" not in allowed.get("style-src", []) or sha256(s) not in allowed["style-src"]]
    return bad + code.handlers
