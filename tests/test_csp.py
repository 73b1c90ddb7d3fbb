"""csp.py: a page's Content-Security-Policy from its final text."""
from __future__ import annotations

import pytest

from facilitymap import csp

PAGE = ('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="">'
        "<style>p { color: red }</style><script>var a = 1 &amp;&amp; 2;</script>"
        '<script type="application/json" id="d">{"x": "<\\/b>"}</script><script type="module">export {};</script>'
        '<script src="app.js"></script></head><body><p>&lt;script&gt;alert(1)&lt;/script&gt;</p></body></html>')


def test_policy_hashes_scripts_that_run_and_styles_only():
    p = csp.parse(csp.policy(PAGE))
    assert p["script-src"] == [csp.sha256("var a = 1 &amp;&amp; 2;"), csp.sha256("export {};")]  # raw text, no JSON
    assert p["style-src"] == [csp.sha256("p { color: red }")]
    assert p["default-src"] == p["connect-src"] == p["base-uri"] == p["form-action"] == ["'none'"]
    assert p["img-src"] == ["data:"]
    assert "unsafe-inline" not in csp.policy(PAGE)


def test_sources_are_added_and_carried_over():
    text = csp.policy(PAGE, {"img-src": ["https://tiles.example.org"], "connect-src": ["'self'"],
                             "worker-src": ["blob:"]})
    p = csp.parse(text)
    assert p["img-src"] == ["data:", "https://tiles.example.org"] and p["connect-src"] == ["'self'"]
    assert text.endswith("; worker-src blob:")
    assert csp.host_sources(text) == {"img-src": ["https://tiles.example.org"], "connect-src": ["'self'"],
                                      "worker-src": ["blob:"]}
    with pytest.raises(ValueError):
        csp.policy(PAGE, {"img-src": ["x; script-src 'unsafe-inline'"]})


def test_apply_and_disallowed():
    page = csp.apply(PAGE, {"img-src": ["https://t.example.org"]})
    assert csp.read(page) == csp.policy(PAGE, {"img-src": ["https://t.example.org"]}) and csp.disallowed(page) == []
    injected = page.replace("<p>", '<script>alert(1)</script><p style="color: red" onclick="x()">')
    assert [b.split()[0] for b in csp.disallowed(injected)] == ["<script>", 'style="color:', "<p"]
    assert csp.disallowed(csp.apply(injected)) == ["<p onclick>"]  # handlers are never allowed
    assert "'unsafe-hashes' " + csp.sha256("color: red") in csp.read(csp.apply(injected))
    with pytest.raises(ValueError, match="2 Content-Security-Policy"):
        csp.read(page + page)


def test_newlines_are_hashed_as_the_browser_sees_them():
    assert csp.parse(csp.policy("<script>a\r\nb\rc</script>"))["script-src"] == [csp.sha256("a\nb\nc")]


def test_code_in_a_fragment():
    assert csp.code_in('<li><a href="#site=x">&lt;script&gt;</a> onerror &#61; style</li>') == []
    assert csp.code_in('<script type="application/json" id="fm-data">{"a": "\\u003c"}</script>') == []
    assert csp.code_in('<p>x</p><script>1</script>') == [f"<script> {csp.sha256('1')}"]
    assert csp.code_in('<p style="color:red">x</p><img src=x onerror=y>') == ['style="color:red"', "<img onerror>"]
    assert csp.code_in('<script type="application/json">{"a": "</b>"}</script>') == []  # parsed: still data
