"""Every UI page renders with 10,000 versions of one model and 5,000 runs, a page at a time."""
import re

import pytest

from tests.bulk import seed
from tests.ui_helpers import signed_in
from tests.ui_helpers import text_of


@pytest.fixture
def big(app, token):
    with app.app_context():
        run_ids = seed()
    return signed_in(app, token)[0], run_ids


def test_pages_render_a_page_of_a_large_registry(big):
    browser, run_ids = big
    model = browser.get("/ui/models/Big")
    assert model.status_code == 200
    rows = re.findall(r'<tr data-version="(\d+)">', model.text)
    assert rows == [str(v) for v in range(10_000, 9_950, -1)]
    assert "Production: version 10000" in text_of(model.text)
    assert len(re.findall(r'data-stage="Production" data-current="(\w+)"', model.text)) == 10
    older = re.search(r'href="(/ui/models/Big\?before=\d+)"', model.text).group(1)
    assert re.findall(r'<tr data-version="(\d+)">', browser.get(older).text)[:2] == ["9950", "9949"]

    experiment = browser.get("/ui/experiments")
    big_id = re.search(r'href="/ui/experiments/(\d+)">big<', experiment.text).group(1)
    runs = browser.get(f"/ui/experiments/{big_id}?order_by=metrics.`accuracy` DESC")
    assert runs.status_code == 200
    assert len(re.findall(r'<tr data-run="', runs.text)) == 50
    assert re.search(r'page_token=50"', runs.text.replace("&amp;", "&"))
    assert browser.get(f"/ui/runs/{run_ids[0]}").status_code == 200
    assert browser.get("/ui/models/Big/versions/1").status_code == 200
    assert browser.get("/ui/compare?" + "&".join(f"run={r}" for r in run_ids[:10])).status_code == 200
    audit = browser.get("/ui/audit")
    assert "Chain verified: 30 records." in text_of(audit.text)
    # the admin token, ten promotions through Staging, and nine versions archived by the next one
    assert len(re.findall(r"<tr><td>\d+</td>", audit.text)) == 30
    assert browser.get("/ui/models").status_code == 200
