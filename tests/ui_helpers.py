"""Signing a Flask test client in to the web UI, and reading what the pages say."""
import html
import re

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html):
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def signed_in(app, token):
    """A test client with a UI session for ``token``; returns (client, the session's CSRF token)."""
    browser = app.test_client()
    page = browser.get("/ui/signin")
    response = browser.post("/ui/signin", data={"token": token, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return browser, csrf_of(browser.get("/ui/models").text)


def text_of(page):
    """The page's visible text, roughly: tags removed, whitespace collapsed."""
    inline = re.sub(r"</?(?:span|a|strong|em|code|time)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())
