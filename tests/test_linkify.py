"""Descriptions are plain text people typed: shown escaped, with their web addresses as links."""

import pytest

from shared.web import linkify

LINK = '<a href="{0}" rel="nofollow noopener noreferrer">{0}</a>'


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("No links here.", "No links here."),
        (
            "Join at https://zoom.us/j/123?pwd=a1.",
            f"Join at {LINK.format('https://zoom.us/j/123?pwd=a1')}.",
        ),
        (
            "Readings (see http://example.org/notes), then lunch",
            f"Readings (see {LINK.format('http://example.org/notes')}), then lunch",
        ),
        (
            "https://en.wikipedia.org/wiki/Grief_(psychology)",
            LINK.format("https://en.wikipedia.org/wiki/Grief_(psychology)"),
        ),
        ("a&b https://x.org/?a=1&b=2", f"a&amp;b {LINK.format('https://x.org/?a=1&amp;b=2')}"),
        (
            '<script>alert(1)</script> "quoted"',
            "&lt;script&gt;alert(1)&lt;/script&gt; &#34;quoted&#34;",
        ),
        (
            'https://x.org/"onmouseover="alert(1)',
            f"{LINK.format('https://x.org/')}&#34;onmouseover=&#34;alert(1)",
        ),
        ("javascript:alert(1) and ftp://x.org", "javascript:alert(1) and ftp://x.org"),
        ("", ""),
        (None, ""),
    ],
)
def test_addresses_become_links_and_everything_else_is_escaped(typed, shown):
    assert str(linkify(typed)) == shown
