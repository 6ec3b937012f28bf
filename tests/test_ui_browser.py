"""The web UI in a real headless Chromium (Debian's chromium + chromium-driver) against `registry serve`.

Each test saves a screenshot of the page it checked under test-artifacts/.
"""
import base64
import os
import re
import subprocess
import tarfile

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import BACKENDS
from tests.servers import RegistryServer

pytestmark = pytest.mark.servers

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")
CHROMIUM = os.environ.get("REGISTRY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REGISTRY_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDE = (1280, 900)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    env = {"REGISTRY_DATA_DIR": str(tmp_path_factory.mktemp("ui") / "data")}
    if request.param == "postgres-minio":
        pg, mn = request.getfixturevalue("postgres"), request.getfixturevalue("minio")
        dbname = pg.create_database()
        request.addfinalizer(lambda: pg.drop_database(dbname))
        env.update(REGISTRY_DATABASE_URL=pg.url(dbname), REGISTRY_STORAGE_URL=mn.url())
    server = RegistryServer(env, workers=2, threads=4).start()
    server.backend = request.param
    yield server
    server.stop()


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDE[0]},{WIDE[1]}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield browser
    browser.quit()


@pytest.fixture
def browser(driver, server, request):
    """The module's Chromium, signed out, at the normal width; screenshots the page it ends on."""
    driver.delete_all_cookies()
    driver.set_window_size(*WIDE)
    driver.base = server.base_url
    yield driver
    os.makedirs(ARTIFACTS, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    with open(os.path.join(ARTIFACTS, f"{name}.png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(lambda b: condition())


def sign_in(browser, token):
    browser.get(browser.base + "/")
    assert browser.current_url.startswith(browser.base + "/ui/signin")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser, lambda: browser.current_url == browser.base + "/ui/models")


def seed_versions(server, name, count):
    run = server.http.post(f"{server.base_url}/runs", json={"name": f"{name}-run"}).json()["run_id"]
    server.http.put(f"{server.base_url}/runs/{run}/artifacts/model/weights.bin", data=b"weights" * 100)
    for _ in range(count):
        response = server.http.post(f"{server.base_url}/models/{name}/versions", json={"source": f"runs:/{run}/model"})
        assert response.status_code == 201, response.text


def text(browser, selector):
    return browser.find_element(By.CSS_SELECTOR, selector).text


def act(browser, summary, comment, keyboard=False):
    """Open an action, give the comment, confirm; return once the next page has loaded."""
    toggle = browser.find_element(By.XPATH, f"//summary[normalize-space()='{summary}']")
    if keyboard:
        toggle.send_keys(Keys.ENTER)  # summary is focusable; Enter opens it
    else:
        toggle.click()
    details = toggle.find_element(By.XPATH, "..")
    assert details.get_attribute("open") is not None
    details.find_element(By.TAG_NAME, "textarea").send_keys(comment)
    old = browser.find_element(By.TAG_NAME, "html")
    details.find_element(By.CSS_SELECTOR, "button.confirm").click()
    wait(browser, lambda: old.id != browser.find_element(By.TAG_NAME, "html").id)


def bars(browser):
    return [(b.get_attribute("data-version"), b.get_attribute("data-stage"), b.get_attribute("data-current"))
            for b in browser.find_elements(By.CSS_SELECTOR, "#timeline rect.bar")]


def test_sign_in_and_promote_through_staging_to_production_with_the_buttons(browser, server):
    seed_versions(server, "TextClassifier", 2)
    sign_in(browser, server.token)
    browser.find_element(By.LINK_TEXT, "TextClassifier").click()
    assert "No version has been in Staging or Production yet." in text(browser, "main")
    browser.find_element(By.LINK_TEXT, "v1").click()
    assert text(browser, "#stage") == "None"
    act(browser, "To Staging", "candidate from the nightly run", keyboard=True)
    assert "Version 1 moved to Staging." in text(browser, ".notice")
    assert text(browser, "#stage") == "Staging"
    act(browser, "To Production", "ship it")
    assert text(browser, "#stage") == "Production"
    assert "moved it Staging → Production: “ship it”" in text(browser, "#history")
    browser.find_element(By.LINK_TEXT, "TextClassifier").click()
    assert bars(browser) == [("1", "Staging", "false"), ("1", "Production", "true")]
    assert [r.text.split()[1] for r in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")] == [
        "None", "Production"]

    browser.find_element(By.LINK_TEXT, "v2").click()
    act(browser, "To Staging", "better on val")
    act(browser, "To Production", "replace v1")
    browser.find_element(By.LINK_TEXT, "TextClassifier").click()
    assert bars(browser) == [("1", "Staging", "false"), ("1", "Production", "false"), ("2", "Staging", "false"),
                             ("2", "Production", "true")]
    assert [r.text.split()[1] for r in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")] == [
        "Production", "Archived"]
    browser.find_element(By.XPATH, "//summary[starts-with(normalize-space(), 'Moves')]").click()
    assert "admin moved version 1 Production → Archived (replaced by version 2): “replace v1”" in text(
        browser, "ol.moves")


def test_a_refused_action_shows_its_message_inline(browser, server):
    seed_versions(server, "Inline", 1)
    sign_in(browser, server.token)
    browser.get(browser.base + "/ui/models/Inline/versions/1")
    act(browser, "Archive", "retire")
    assert text(browser, "#stage") == "Archived"
    assert browser.find_elements(By.CSS_SELECTOR, "details.action summary[data-move]") == []


def test_a_reader_sees_no_action_buttons_and_a_forged_post_gets_403(browser, server):
    seed_versions(server, "ReadOnly", 1)
    reader = server.http.post(f"{server.base_url}/tokens", json={"name": "viewer", "role": "reader"}).json()["token"]
    sign_in(browser, reader)
    browser.get(browser.base + "/ui/models/ReadOnly/versions/1")
    assert text(browser, "header .who span") == "viewer (reader)"
    assert browser.find_elements(By.CSS_SELECTOR, "details.action") == []
    cookie = browser.get_cookie("registry_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    csrf = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    forged = requests.post(f"{server.base_url}/ui/models/ReadOnly/versions/1/stage",
                           data={"csrf_token": csrf, "stage": "Staging", "comment": "forged"},
                           cookies={"registry_session": cookie["value"]}, allow_redirects=False)
    assert forged.status_code == 403
    assert "This needs the writer role; token &#39;viewer&#39; has the reader role." in forged.text
    assert server.http.get(f"{server.base_url}/models/ReadOnly/versions/1").json()["stage"] == "None"


def test_a_form_without_its_csrf_token_is_refused(browser, server):
    seed_versions(server, "Csrf", 1)
    sign_in(browser, server.token)
    browser.get(browser.base + "/ui/models/Csrf/versions/1")
    browser.execute_script("document.querySelectorAll('details.action input[name=csrf_token]')"
                           ".forEach(function (e) { e.remove(); })")
    act(browser, "To Staging", "no token")
    assert "This form has expired or did not come from this site" in text(browser, ".error")
    assert server.http.get(f"{server.base_url}/models/Csrf/versions/1").json()["stage"] == "None"


def test_compare_three_runs_draws_one_chart_per_metric_with_three_series(browser, server):
    for lr in ("0.1", "0.01", "0.001"):
        run = server.http.post(f"{server.base_url}/runs", json={"name": f"lr-{lr}", "experiment": "clf"}).json()
        metrics = [{"key": key, "value": (1 + step) * float(lr) * (1 if key == "acc" else -1), "step": step,
                    "timestamp": 1_700_000_000_000 + step} for key in ("acc", "loss") for step in range(20)]
        logged = server.http.post(f"{server.base_url}/runs/{run['run_id']}/log", json={
            "params": [{"key": "lr", "value": lr}, {"key": "epochs", "value": "20"}], "metrics": metrics})
        assert logged.status_code == 200, logged.text
    sign_in(browser, server.token)
    browser.find_element(By.LINK_TEXT, "Experiments").click()
    browser.find_element(By.LINK_TEXT, "clf").click()
    boxes = browser.find_elements(By.CSS_SELECTOR, "#runs input[type=checkbox]")
    assert len(boxes) == 3
    for box in boxes:
        box.click()
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "figure.chart .u-legend")) == 2)
    for figure in browser.find_elements(By.CSS_SELECTOR, "figure.chart"):
        legend = [label.text for label in figure.find_elements(By.CSS_SELECTOR, ".u-legend tr.u-series .u-label")]
        assert legend == ["step", "lr-0.001", "lr-0.01", "lr-0.1"], figure.text
        assert figure.find_element(By.TAG_NAME, "canvas").size["width"] > 200
    assert browser.execute_script("return window.registryCharts.map(function (c) { return c.series.length - 1; })") == [
        3, 3]
    differing = [row.find_element(By.TAG_NAME, "th").text.split()[0]
                 for row in browser.find_elements(By.CSS_SELECTOR, "tr.differs")]
    assert differing == ["lr"]


def test_the_audit_page_shows_the_chain_verified(browser, server):
    sign_in(browser, server.token)
    browser.find_element(By.LINK_TEXT, "Audit").click()
    assert re.match(r"Chain verified: \d+ records\. Walked in full \d+ s ago", text(browser, "#verification"))
    assert browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")


def test_the_archive_curl_on_the_version_page_runs_as_written(browser, server, tmp_path):
    seed_versions(server, "Curl", 1)
    sign_in(browser, server.token)
    browser.get(browser.base + "/ui/models/Curl/versions/1")
    command = text(browser, "#curl")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, env=dict(os.environ, REGISTRY_TOKEN=server.token))
    with tarfile.open(tmp_path / "Curl-v1.tar") as archive:
        assert archive.extractfile("weights.bin").read() == b"weights" * 100


def test_pages_fit_a_phone_screen_and_sign_out_ends_the_session(browser, server):
    seed_versions(server, "Phone", 1)
    sign_in(browser, server.token)
    # A phone's viewport (headless windows are never narrower than 500 px).
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    for page in ("/ui/models", "/ui/models/Phone", "/ui/models/Phone/versions/1", "/ui/audit", "/ui/experiments"):
        browser.get(browser.base + page)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert browser.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [
            390, 390], page
    browser.get(browser.base + "/ui/models/Phone")
    browser.find_element(By.CSS_SELECTOR, "header .who button").click()
    wait(browser, lambda: "/ui/signin" in browser.current_url)
    browser.get(browser.base + "/ui/models/Phone")
    assert browser.current_url.startswith(browser.base + "/ui/signin")
    browser.get(browser.base + "/ui/models/Phone")  # the screenshot: the sign-in page at phone width
