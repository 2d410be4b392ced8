"""Browser test of the dashboard: a real headless Chromium against a real `sequent serve` (SEQUENT_URL).

Run through scripts/test-dashboard.sh, which installs Chromium, chromedriver, Selenium and pytest when missing,
builds, starts the server and exports SEQUENT_URL. The tests run in order and share one browser: the flow is what
a person does — open the page, submit a job (first an invalid one), watch it train, cancel another, compare the
two, classify uploaded images, look at the training data and the feature maps. Screenshots of each step go to
artifacts/screenshots/. No console error may appear in the browser at any point.
"""

import base64
import csv
import gzip
import io
import json
import math
import os
import pathlib
import random
import re
import shutil
import struct
import tempfile
import time
import urllib.request
import zipfile
import zlib

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ.get("SEQUENT_URL", "http://127.0.0.1:8080").rstrip("/")
ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
FASHION = os.environ.get("SEQUENT_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

# Failed requests the flow makes on purpose: (path, status). Anything else in the console fails the run.
EXPECTED_FAILURES = {("/v1/jobs", 400)}
CONSOLE = []
STATE = {}


# ------------------------------------------------------------------------------------------------------------
# Images without PIL: Fashion-MNIST's IDX file through gzip + struct, PNG through zlib.

def fashion_test_image(index):
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051 and index < count
        f.seek(16 + index * rows * cols)
        return f.read(rows * cols), cols, rows


def png(pixels, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def photo_like(pixels, width, height, scale=4):
    """The garment dark on white and larger, like a photo of it on a table."""
    out = bytearray(width * scale * height * scale)
    for y in range(height * scale):
        for x in range(width * scale):
            out[y * width * scale + x] = 255 - pixels[(y // scale) * width + x // scale]
    return bytes(out), width * scale, height * scale


def api(path, data=None, content_type=None):
    """GET path, or POST data (bytes) with content_type; the JSON answer."""
    request = urllib.request.Request(URL + path, data=data, headers={"Content-Type": content_type} if data else {})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


# ------------------------------------------------------------------------------------------------------------
# Browser

@pytest.fixture(scope="module")
def driver():
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--force-device-scale-factor=1", "--lang=en-US", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    d = webdriver.Chrome(service=service, options=options)
    d.set_window_size(1280, 900)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


@pytest.fixture(autouse=True)
def collect_console(driver):
    yield
    for entry in driver.get_log("browser"):
        CONSOLE.append(entry)


def unexpected_console(entries):
    bad = []
    for e in entries:
        if e.get("level") not in ("SEVERE", "WARNING"):
            continue
        message = e.get("message", "")
        if any(f"{URL}{path} - Failed to load resource: the server responded with a status of {status}" in message
               for path, status in EXPECTED_FAILURES):
            continue
        bad.append(message)
    return bad


def wait(driver, condition, timeout=20, message=""):
    # Lists are re-rendered while the test looks at them: a stale element just means "look again".
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message)


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def shot(driver, name, full=True):
    """A screenshot of the whole page (or the viewport) into artifacts/screenshots/name.png."""
    path = SHOTS / f"{name}.png"
    if full:
        js(driver, "return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 5000), "scale": 1}
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(data["data"]))
    else:
        driver.save_screenshot(str(path))
    return path


def go(driver, hash_):
    js(driver, "location.hash = arguments[0]", hash_)
    view = hash_.lstrip("#/").split("/")[0].split("?")[0] or "jobs"
    wait(driver, lambda d: d.find_element(By.ID, f"view-{view}").is_displayed())


def points(driver, chart_id):
    return int(driver.find_element(By.ID, chart_id).get_attribute("data-points") or 0)


def set_editor(driver, text):
    js(driver, "const t = document.getElementById('spec-editor'); t.value = arguments[0];"
               "t.dispatchEvent(new Event('input', {bubbles: true}))", text)


def open_form(driver, recipe):
    toggle = driver.find_element(By.ID, "new-job-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    wait(driver, lambda d: d.find_element(By.ID, "new-job").is_displayed())
    Select(driver.find_element(By.ID, "recipe-select")).select_by_value(recipe)
    return json.loads(driver.find_element(By.ID, "spec-editor").get_property("value"))


def submit_and_open(driver):
    driver.find_element(By.ID, "submit-job").click()
    wait(driver, lambda d: "#/jobs/j_" in d.current_url and d.find_element(By.ID, "job-view").is_displayed())
    job_id = driver.current_url.split("#/jobs/")[1]
    wait(driver, lambda d: d.find_element(By.ID, "job-title").text != "")
    return job_id


def job_state(driver):
    return driver.find_element(By.ID, "job-state").text.strip()


# ------------------------------------------------------------------------------------------------------------
# The flow

def test_page_loads_with_recipes_and_accessible_controls(driver):
    driver.get(URL + "/")
    wait(driver, lambda d: len(Select(d.find_element(By.ID, "recipe-select")).options) >= 4, message="recipes never loaded")
    assert driver.title.endswith("Sequent")
    recipes = [o.get_attribute("value") for o in Select(driver.find_element(By.ID, "recipe-select")).options]
    assert {"fashion-dense", "fashion-cnn"} <= set(recipes)
    wait(driver, lambda d: d.find_element(By.ID, "jobs-empty").is_displayed(), message="fresh server: no jobs")
    assert [a.text.split()[0] for a in driver.find_elements(By.CSS_SELECTOR, "nav a")] == ["Jobs", "Compare", "Predict", "Data"]
    # Every control has an accessible name.
    unnamed = js(driver, """
        return [...document.querySelectorAll('button, input, select, textarea, [tabindex="0"]')].filter((el) => {
          if (el.type === 'hidden') return false;
          const labels = el.labels ? [...el.labels].map((l) => l.textContent).join(' ') : '';
          const by = (el.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean)
            .map((id) => (document.getElementById(id) || {}).textContent || '').join(' ');
          return !(el.getAttribute('aria-label') || by || labels || el.textContent || el.title || '').trim();
        }).map((el) => el.outerHTML.slice(0, 120));""")
    assert unnamed == []
    # Keyboard: the first Tab reaches the skip link, and buttons show a focus ring.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("class") == "skip-link"
    toggle = driver.find_element(By.ID, "new-job-toggle")
    js(driver, "arguments[0].focus()", toggle)
    ring = js(driver, "return getComputedStyle(arguments[0]).outlineStyle", toggle)
    assert ring != "none"


def test_invalid_spec_shows_the_field_under_the_editor(driver):
    spec = open_form(driver, "fashion-dense")
    # Not JSON at all: caught before sending.
    set_editor(driver, '{"name": "broken",')
    driver.find_element(By.ID, "submit-job").click()
    error = driver.find_element(By.ID, "spec-error")
    wait(driver, lambda d: error.is_displayed())
    assert "does not parse" in error.text
    # Valid JSON the server refuses: 400 naming the field, highlighted in the editor.
    spec["model"]["layers"][1]["units"] = -3
    set_editor(driver, json.dumps(spec, indent=2))
    assert not error.is_displayed()
    driver.find_element(By.ID, "submit-job").click()
    wait(driver, lambda d: "model.layers[1].units" in error.text, message="no field error")
    assert "must be > 0" in error.text
    editor = driver.find_element(By.ID, "spec-editor")
    assert editor.get_attribute("aria-invalid") == "true"
    selected = js(driver, "const t = arguments[0]; return t.value.slice(t.selectionStart, t.selectionEnd)", editor)
    assert selected == "-3"
    assert driver.switch_to.active_element == editor
    shot(driver, "00-validation-error", full=False)


def test_submit_a_job_and_watch_its_curves_grow(driver):
    spec = open_form(driver, "fashion-cnn")
    spec["name"] = "dash-cnn"
    # A debug build trains this CNN at a few hundred samples/s: small enough to finish in seconds.
    spec["dataset"]["train_limit"] = 1500
    spec["dataset"]["test_limit"] = 300
    set_editor(driver, json.dumps(spec, indent=2))
    # The quick fields write into the JSON.
    epochs = driver.find_element(By.ID, "quick-epochs")
    epochs.send_keys(Keys.CONTROL, "a")
    epochs.send_keys("3")
    edited = json.loads(driver.find_element(By.ID, "spec-editor").get_property("value"))
    assert edited["fit"]["epochs"] == 3 and edited["dataset"]["train_limit"] == 1500
    job_id = submit_and_open(driver)
    STATE["cnn"] = job_id
    assert driver.find_element(By.ID, "job-title").text == "dash-cnn"

    seen_running_with_points = False
    shot_taken = False
    deadline = time.time() + 120
    while time.time() < deadline:
        state = job_state(driver)
        n = points(driver, "chart-loss")
        if state == "running" and n > 0:
            seen_running_with_points = True
            if not shot_taken and n > 10:
                shot(driver, "02-job-training", full=False)
                shot_taken = True
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert job_state(driver) == "succeeded", driver.find_element(By.ID, "job-problem").text
    assert seen_running_with_points, "the loss chart never showed points while the job was running"

    # Finished: three epochs in the table, the final curves, the model summary, the list entry.
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#epoch-table tbody tr")) == 3)
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model-summary tbody tr")) == 7)
    summary = driver.find_element(By.ID, "model-summary").text
    assert "Conv2D" in summary and "243,786" in summary
    item = driver.find_element(By.CSS_SELECTOR, f'.job-item[data-id="{job_id}"]')
    assert item.find_element(By.CSS_SELECTOR, ".badge").text == "succeeded"
    assert "epoch 3/3" in item.text and re.search(r"best epoch [123]: val_accuracy", item.text)
    assert float(item.find_element(By.TAG_NAME, "progress").get_attribute("value")) == 1.0
    api_points = len(api(f"/v1/jobs/{job_id}/metrics?max_points=10000")["series"]["loss"])
    wait(driver, lambda d: points(d, "chart-loss") >= api_points, message="chart lacks points")

    # Hover read-out.
    canvas = driver.find_element(By.CSS_SELECTOR, "#chart-loss canvas")
    ActionChains(driver).move_to_element(canvas).perform()
    tip = driver.find_element(By.CSS_SELECTOR, "#chart-loss .chart-tip")
    wait(driver, lambda d: tip.is_displayed() and "loss" in tip.text, message="no hover read-out")
    # Keyboard read-out.
    canvas.send_keys(Keys.HOME)
    wait(driver, lambda d: "step" in tip.text)
    # Epoch axis: three train and three validation points per chart.
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="epoch"]').find_element(By.XPATH, "..").click()
    wait(driver, lambda d: points(d, "chart-loss") == 6 and points(d, "chart-acc") == 6)
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="wall"]').find_element(By.XPATH, "..").click()
    wait(driver, lambda d: points(d, "chart-loss") >= api_points)
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="step"]').find_element(By.XPATH, "..").click()
    # Smoothing keeps the raw points.
    js(driver, "const s = document.getElementById('job-smoothing'); s.value = '0.6'; s.dispatchEvent(new Event('input', {bubbles: true}))")
    assert driver.find_element(By.ID, "job-smoothing-out").text == "0.60"
    assert points(driver, "chart-loss") >= api_points
    ActionChains(driver).move_to_element_with_offset(canvas, 60, 0).perform()
    wait(driver, lambda d: "smoothed" in tip.text)
    shot(driver, "02-job")


def chart_state(driver, chart_id):
    fig = driver.find_element(By.ID, chart_id)
    d = js(driver, "return {...arguments[0].dataset}", fig)
    return {"x0": float(d.get("x0", "nan")), "x1": float(d.get("x1", "nan")), "zoomed": d.get("zoomed"),
            "scale": d.get("yScale"), "path": d.get("path"), "smoothing": d.get("smoothing")}


def set_smoothing(driver, value):
    js(driver, "const s = document.getElementById('job-smoothing'); s.value = arguments[0];"
               "s.dispatchEvent(new Event('input', {bubbles: true}))", str(value))


def test_chart_zoom_pan_reset_log_and_smoothing(driver):
    go(driver, f"#/jobs/{STATE['cnn']}")
    wait(driver, lambda d: d.find_element(By.ID, "job-title").text == "dash-cnn")
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="step"]').find_element(By.XPATH, "..").click()
    wait(driver, lambda d: points(d, "chart-loss") > 20)
    set_smoothing(driver, 0)
    wait(driver, lambda d: chart_state(d, "chart-loss")["smoothing"] == "0")
    full = chart_state(driver, "chart-loss")
    assert full["zoomed"] == "false" and full["x1"] > full["x0"]
    span = full["x1"] - full["x0"]
    fig = driver.find_element(By.ID, "chart-loss")
    canvas = fig.find_element(By.TAG_NAME, "canvas")
    reset = fig.find_element(By.CSS_SELECTOR, ".chart-reset")
    assert not reset.is_enabled()

    # Dragging across the middle third zooms the x axis to it.
    w = canvas.size["width"]
    ActionChains(driver).move_to_element_with_offset(canvas, -w // 6, 0).click_and_hold() \
        .move_by_offset(w // 3, 0).release().perform()
    wait(driver, lambda d: chart_state(d, "chart-loss")["zoomed"] == "true", message="a drag did not zoom")
    zoomed = chart_state(driver, "chart-loss")
    assert full["x0"] < zoomed["x0"] < zoomed["x1"] < full["x1"]
    assert zoomed["x1"] - zoomed["x0"] < 0.5 * span
    assert zoomed["path"] != full["path"]
    assert reset.is_enabled()
    # Shift + arrow pans right by a fifth of the view, keeping its width.
    canvas.send_keys(Keys.SHIFT, Keys.ARROW_RIGHT, Keys.NULL)
    wait(driver, lambda d: chart_state(d, "chart-loss")["x0"] > zoomed["x0"], message="no pan")
    panned = chart_state(driver, "chart-loss")
    assert abs((panned["x1"] - panned["x0"]) - (zoomed["x1"] - zoomed["x0"])) < 1e-6 * span
    # The wheel over the focused chart zooms in further, around the pointer.
    js(driver, """const c = arguments[0], r = c.getBoundingClientRect(); c.focus();
        c.dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2,
                                               bubbles: true, cancelable: true}));""", canvas)
    wait(driver, lambda d: chart_state(d, "chart-loss")["x1"] - chart_state(d, "chart-loss")["x0"]
         < 0.6 * (panned["x1"] - panned["x0"]), message="the wheel did not zoom")
    # Reset shows everything again and draws what it drew before.
    reset.click()
    wait(driver, lambda d: chart_state(d, "chart-loss")["zoomed"] == "false")
    back = chart_state(driver, "chart-loss")
    assert (back["x0"], back["x1"], back["path"]) == (full["x0"], full["x1"], full["path"])
    assert not reset.is_enabled()

    # Log scale: a different path, and the same one again when switched off.
    log = fig.find_element(By.CSS_SELECTOR, ".chart-log")
    log.click()
    wait(driver, lambda d: chart_state(d, "chart-loss")["scale"] == "log")
    assert log.get_attribute("aria-pressed") == "true"
    wait(driver, lambda d: chart_state(d, "chart-loss")["path"] != full["path"], message="log scale drew the same path")
    shot(driver, "02-job-log-scale", full=False)
    log.click()
    wait(driver, lambda d: chart_state(d, "chart-loss")["scale"] == "linear")
    wait(driver, lambda d: chart_state(d, "chart-loss")["path"] == full["path"])

    # The smoothing slider changes the drawn path; back at 0 it is the raw path again.
    set_smoothing(driver, 0.9)
    wait(driver, lambda d: chart_state(d, "chart-loss")["smoothing"] == "0.9")
    assert chart_state(driver, "chart-loss")["path"] != full["path"]
    set_smoothing(driver, 0.5)
    wait(driver, lambda d: chart_state(d, "chart-loss")["smoothing"] == "0.5")
    half = chart_state(driver, "chart-loss")["path"]
    assert half not in (full["path"], None)
    set_smoothing(driver, 0)
    wait(driver, lambda d: chart_state(d, "chart-loss")["smoothing"] == "0")
    assert chart_state(driver, "chart-loss")["path"] == full["path"]


def test_quick_limits_only_for_datasets_that_take_them(driver):
    go(driver, "#/jobs")
    spec = open_form(driver, "horses-or-humans")
    assert "directory" in spec["dataset"]
    train, test, epochs = (driver.find_element(By.ID, i) for i in ("quick-train-limit", "quick-test-limit", "quick-epochs"))
    assert not train.is_enabled() and not test.is_enabled() and epochs.is_enabled()
    epochs.send_keys(Keys.CONTROL, "a")
    epochs.send_keys("2")
    edited = json.loads(driver.find_element(By.ID, "spec-editor").get_property("value"))
    assert edited["fit"]["epochs"] == 2
    assert "train_limit" not in edited["dataset"] and "test_limit" not in edited["dataset"]
    # Fashion-MNIST takes them again.
    open_form(driver, "fashion-dense")
    assert train.is_enabled() and test.is_enabled()
    train.send_keys("700")
    assert json.loads(driver.find_element(By.ID, "spec-editor").get_property("value"))["dataset"]["train_limit"] == 700
    driver.find_element(By.ID, "close-new-job").click()


def test_cancel_a_running_job(driver):
    go(driver, "#/jobs")
    spec = open_form(driver, "fashion-dense")
    spec["name"] = "dash-dense"
    spec["dataset"]["train_limit"] = 6000
    spec["dataset"]["test_limit"] = 500
    spec["fit"]["epochs"] = 300
    set_editor(driver, json.dumps(spec, indent=2))
    job_id = submit_and_open(driver)
    STATE["dense"] = job_id
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#epoch-table tbody tr")) >= 2, timeout=90,
         message="the job never finished two epochs")
    assert job_state(driver) == "running"
    item = driver.find_element(By.CSS_SELECTOR, f'.job-item[data-id="{job_id}"]')
    assert "samples/s" in item.text and "ETA" in item.text
    driver.find_element(By.ID, "job-cancel").click()
    wait(driver, lambda d: job_state(d) == "cancelled", timeout=30, message="never cancelled")
    wait(driver, lambda d: item.find_element(By.CSS_SELECTOR, ".badge").text == "cancelled")
    assert not driver.find_element(By.ID, "job-cancel").is_displayed()
    assert "cancelled" in driver.find_element(By.ID, "job-problem").text.lower()
    go(driver, "#/jobs")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-item")) == 2)
    shot(driver, "01-jobs")


def test_compare_two_runs(driver):
    go(driver, "#/compare")
    for job_id in (STATE["cnn"], STATE["dense"]):
        box = driver.find_element(By.CSS_SELECTOR, f'#compare-jobs input[value="{job_id}"]')
        if not box.is_selected():
            box.find_element(By.XPATH, "..").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")) == 2)
    wait(driver, lambda d: points(d, "compare-chart") >= 5 and d.find_element(By.ID, "compare-chart").get_attribute("data-series") == "2")
    table = driver.find_element(By.ID, "compare-table").text
    assert "243,786" in table and "101,770" in table   # params of the CNN and of the dense model
    assert "adam" in table
    assert "3/3" in table
    assert "0.001" in table
    # The table as a CSV download: one row per job, its id beside its name, the numbers unrounded.
    link = driver.find_element(By.ID, "compare-csv")
    assert link.is_displayed() and link.get_attribute("download") == "comparison.csv"
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('compare-csv').href).then((r) => r.text()).then(done);")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["id"] for r in rows} == {STATE["cnn"], STATE["dense"]}
    assert {r["Params"] for r in rows} == {"243786", "101770"}
    # Another metric and the step axis.
    Select(driver.find_element(By.ID, "compare-metric")).select_by_value("loss")
    driver.find_element(By.CSS_SELECTOR, 'input[name="compare-x"][value="step"]').find_element(By.XPATH, "..").click()
    wait(driver, lambda d: points(d, "compare-chart") > 20)
    assert "compare?ids=" in driver.current_url
    shot(driver, "03-compare")


def test_charts_stay_fast_with_100k_points(driver):
    # A chart fed 100,000 points per series (what max_points allows) stays fast because what it strokes is bounded
    # by its pixel columns (a few vertices each: first, last, lowest, highest), not by the points. That bound is
    # asserted; the time is printed for information only, since a shared CI machine makes timings noisy.
    result = js(driver, """
        const fig = document.createElement('figure');
        fig.className = 'chart';
        fig.style.width = '900px';
        document.querySelector('#view-compare .panel').append(fig);
        const chart = new window.sequentDashboard.Chart(fig, {title: 'Stress'});
        const n = 100000, a = new Array(n), b = new Array(n);
        for (let i = 0; i < n; i++) { a[i] = [i, Math.exp(-i / 20000) + Math.sin(i) * 0.05]; b[i] = [i, 0.5 + Math.cos(i / 7) * 0.1]; }
        chart.setSeries([{id: 'a', label: 'a', color: '#36c', points: a}, {id: 'b', label: 'b', color: '#c63', points: b}], 'step');
        chart.setSmoothing(0.9);
        const times = [];
        for (let k = 0; k < 5; k++) {
          chart.hoverX = 10000 * k + 123;
          const t = performance.now(); chart.draw(); times.push(performance.now() - t);
        }
        const points = Number(fig.dataset.points), drawn = Number(fig.dataset.drawn), width = Number(fig.dataset.plotWidth);
        fig.remove();
        times.sort((x, y) => x - y);
        return {median: times[2], points, drawn, width};""")
    print("100k-point chart:", result)
    assert result["points"] == 200000
    # Two series, each raw and smoothed: at most four vertices per pixel column for each of the four lines.
    assert 0 < result["drawn"] <= 4 * 4 * (result["width"] + 2), result


def test_predict_uploaded_images(driver, tmp_path):
    pixels, w, h = fashion_test_image(0)          # an ankle boot
    plain = tmp_path / "boot.png"
    plain.write_bytes(png(pixels, w, h))
    big, bw, bh = photo_like(*fashion_test_image(1))  # a pullover, dark on white, 112×112
    photo = tmp_path / "pullover-photo.png"
    photo.write_bytes(png(big, bw, bh))
    model_id = api(f"/v1/jobs/{STATE['cnn']}")["model_id"]
    STATE["model"] = model_id
    go(driver, f"#/predict?model={model_id}")
    wait(driver, lambda d: Select(d.find_element(By.ID, "predict-model")).first_selected_option.get_attribute("value") == model_id)
    driver.find_element(By.ID, "predict-files").send_keys(f"{plain}\n{photo}")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#predict-results .verdict")) == 2, timeout=30)
    results = driver.find_elements(By.CSS_SELECTOR, "#predict-results .result")
    for r in results:
        assert len(r.find_elements(By.CSS_SELECTOR, ".bars li")) == 5
        assert r.get_attribute("data-label")
    # What the model saw: 28×28, and the photo was inverted.
    wait(driver, lambda d: all(js(d, "return arguments[0].naturalWidth", img) == 28
                               for img in d.find_elements(By.CSS_SELECTOR, "#predict-results .seen img")))
    assert "inverted" in results[1].find_element(By.CSS_SELECTOR, ".seen figcaption").text
    assert "inverted" not in results[0].find_element(By.CSS_SELECTOR, ".seen figcaption").text
    # The model input came with the predictions: the images were not sent a second time to /preprocess.
    assert not js(driver, "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/preprocess')).length")
    shot(driver, "04-predict")
    # Drag and drop works too.
    data = list(png(pixels, w, h))
    js(driver, """
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(arguments[0])], 'dropped.png', {type: 'image/png'}));
        document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));""", data)
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#predict-results .result")) == 1
         and len(d.find_elements(By.CSS_SELECTOR, "#predict-results .verdict")) == 1, timeout=30)
    assert "dropped.png" in driver.find_element(By.ID, "predict-results").text


def test_predict_a_zip_of_images(driver, tmp_path):
    archive = tmp_path / "shoes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            pixels, w, h = fashion_test_image(i)
            z.writestr(f"folder/{i}.png", png(pixels, w, h))
        z.writestr("folder/readme.txt", "not an image")
    go(driver, f"#/predict?model={STATE['model']}")
    driver.find_element(By.ID, "predict-zip").send_keys(str(archive))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#predict-batch tbody tr")) == 4, timeout=30)
    rows = driver.find_elements(By.CSS_SELECTOR, "#predict-batch tbody tr")
    assert [r.get_attribute("data-file") for r in rows] == ["folder/0.png", "folder/1.png", "folder/2.png", "folder/readme.txt"]
    expected = [api(f"/v1/models/{STATE['model']}/predict", png(*fashion_test_image(i)), "image/png")["predictions"][0]["label"]
                for i in range(3)]
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows[:3]] == expected
    assert "error" in rows[3].get_attribute("class") and rows[3].find_elements(By.TAG_NAME, "td")[3].text
    assert "3 image(s) classified, 1 file(s) not" in driver.find_element(By.ID, "predict-batch-summary").text
    shot(driver, "04b-predict-zip")
    # Download CSV: the click fetches the CSV into a blob URL the link then points at.
    link = driver.find_element(By.ID, "predict-csv")
    assert link.is_displayed()
    link.click()
    wait(driver, lambda d: (d.find_element(By.ID, "predict-csv").get_attribute("href") or "").startswith("blob:"))
    csv = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('predict-csv').href).then((r) => r.text()).then(done);")
    lines = csv.split("\r\n")
    assert lines[0].startswith("file,label,probability,") and lines[0].endswith(",error")
    assert [l.split(",")[0] for l in lines[1:5]] == ["folder/0.png", "folder/1.png", "folder/2.png", "folder/readme.txt"]
    assert [l.split(",")[1] for l in lines[1:4]] == expected


def test_training_data_and_feature_maps(driver):
    go(driver, "#/data")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")) == 24, message="no samples")
    first = driver.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")[0]
    assert first.get_attribute("data-index") == "0" and first.get_attribute("data-label") == "Ankle boot"
    assert js(driver, "return arguments[0].querySelector('img').naturalWidth", first) == 28
    # The tutorial's image 42.
    offset = driver.find_element(By.ID, "samples-offset")
    offset.send_keys(Keys.CONTROL, "a")
    offset.send_keys("42", Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")[0].get_attribute("data-index") == "42")
    driver.find_element(By.ID, "samples-prev").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")[0].get_attribute("data-index") == "18")
    driver.find_element(By.ID, "samples-split").send_keys("train")
    offset.send_keys(Keys.CONTROL, "a")
    offset.send_keys("0", Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")[0].get_attribute("data-index") == "0")
    # Feature maps of the CNN for sample 0: two Conv2D and two MaxPooling2D layers, every channel of each.
    Select(driver.find_element(By.ID, "fm-model")).select_by_value(STATE["model"])
    driver.find_elements(By.CSS_SELECTOR, "#sample-grid .sample")[0].click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fm-output .fm-layer")) == 4, timeout=30)
    layers = driver.find_elements(By.CSS_SELECTOR, "#fm-output .fm-layer")
    assert [l.get_attribute("data-layer") for l in layers] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    for layer in layers:
        channels = int(re.search(r"\d+×\d+×(\d+)", layer.text).group(1))
        assert len(layer.find_elements(By.CSS_SELECTOR, "img")) == channels
    assert "26×26×64" in layers[0].text
    wait(driver, lambda d: all(js(d, "return arguments[0].complete && arguments[0].naturalWidth > 0", i)
                               for i in d.find_elements(By.CSS_SELECTOR, "#fm-output img")))
    assert "Prediction" in driver.find_element(By.ID, "fm-output").text
    shot(driver, "05-data")


def test_model_page_confusion_matrix(driver):
    go(driver, "#/jobs")
    spec = open_form(driver, "fashion-cnn")
    spec["name"] = "dash-eval"
    spec["dataset"]["train_limit"] = 2000
    spec["dataset"]["test_limit"] = 1000
    spec["fit"]["epochs"] = 1
    set_editor(driver, json.dumps(spec, indent=2))
    job_id = submit_and_open(driver)
    wait(driver, lambda d: job_state(d) == "succeeded", timeout=120, message="the tiny job never succeeded")
    link = driver.find_element(By.ID, "job-model")
    wait(driver, lambda d: link.is_displayed())
    link.click()
    wait(driver, lambda d: d.find_element(By.ID, "view-models").is_displayed())
    matrix = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="confusion-matrix"]'), timeout=30)
    cells = matrix.find_elements(By.CSS_SELECTOR, "[data-true][data-predicted]")
    assert len(cells) == 100
    assert {c.get_attribute("data-true") for c in cells} == {str(i) for i in range(10)}
    assert {c.get_attribute("data-predicted") for c in cells} == {str(i) for i in range(10)}
    model_id = api(f"/v1/jobs/{job_id}")["model_id"]
    evaluation = api(f"/v1/models/{model_id}/evaluation")
    samples = evaluation["samples"]
    assert samples == 1000
    assert sum(int(c.get_attribute("data-count")) for c in cells) == samples
    assert "1,000 samples" in driver.find_element(By.ID, "eval-summary").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#eval-classes tbody tr")) == 10
    # The model's three downloads; the .keras one is a zip archive.
    links = {a.get_attribute("data-format"): a.get_attribute("href")
             for a in driver.find_elements(By.CSS_SELECTOR, "#eval-downloads a[data-format]")}
    assert set(links) == {"keras", "onnx", "safetensors"}
    assert all(href.endswith(f"/v1/models/{model_id}/export?format={f}") for f, href in links.items())
    magic = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => r.arrayBuffer()).then((b) => done(Array.from(new Uint8Array(b.slice(0, 2)))));",
        links["keras"])
    assert magic == [0x50, 0x4B]
    # A cell lists all of its images (a page of 48 at most), the most confident first, with their probabilities,
    # as the cell route gives them.
    names = evaluation["classes"]
    pairs = [(names.index(m["true_label"]), names.index(m["predicted_label"])) for m in evaluation["misclassified"]]
    t, p = max(set(pairs), key=pairs.count)
    matrix_counts = evaluation["confusion_matrix"]
    busiest = matrix.find_element(By.CSS_SELECTOR, f'[data-true="{t}"][data-predicted="{p}"]')
    busiest.click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#eval-cell .cell-sample")) == min(48, matrix_counts[t][p]),
         message="the cell's images are not listed")
    wait(driver, lambda d: all(js(d, "return arguments[0].complete && arguments[0].naturalWidth === 28", i)
                               for i in d.find_elements(By.CSS_SELECTOR, "#eval-cell img")))
    listed = [int(b.get_attribute("data-index")) for b in driver.find_elements(By.CSS_SELECTOR, "#eval-cell .cell-sample")]
    assert listed == [s["index"] for s in api(f"/v1/models/{model_id}/evaluation/cells/{t}/{p}")["samples"]]
    assert "%" in driver.find_element(By.CSS_SELECTOR, "#eval-cell .cell-sample").text
    assert busiest.get_attribute("aria-pressed") == "true"
    # The diagonal: the right predictions, paged with "Show more".
    k = max(range(10), key=lambda i: matrix_counts[i][i])
    assert matrix_counts[k][k] > 48, "the test needs a diagonal cell of more than one page"
    matrix.find_element(By.CSS_SELECTOR, f'[data-true="{k}"][data-predicted="{k}"]').click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#eval-cell .cell-sample")) == 48,
         message="the diagonal cell's first page is not listed")
    more = driver.find_element(By.XPATH, "//div[@id='eval-cell']//button[normalize-space()='Show more']")
    more.click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#eval-cell .cell-sample")) == min(96, matrix_counts[k][k]),
         message="Show more did not add the next page")
    assert f"of {matrix_counts[k][k]}" in driver.find_element(By.ID, "eval-cell").text
    # An image's feature maps, from the cell: every channel of every Conv2D and pooling layer, and its prediction.
    first = driver.find_element(By.CSS_SELECTOR, "#eval-cell .cell-sample")
    first.click()
    fm = driver.find_element(By.ID, "eval-fm")
    wait(driver, lambda d: len(fm.find_elements(By.CSS_SELECTOR, ".fm-layer")) >= 2, timeout=30,
         message="no feature maps for the cell's image")
    assert f"Prediction: {names[k]}" in fm.text
    assert first.get_attribute("aria-pressed") == "true"
    layer = fm.find_element(By.CSS_SELECTOR, ".fm-layer")
    channels = int(re.search(r"\d+×\d+×(\d+)", layer.text).group(1))
    assert len(layer.find_elements(By.CSS_SELECTOR, "img")) == channels
    shot(driver, "model-page")


def folder_dataset_zip(per_class_train=40, per_class_validation=20, seed=7):
    """Two classes of 28×28 grey PNGs under train/ and validation/: "left" images brighter on the left half, "right"
    ones on the right, by a contrast drawn from overlapping ranges, so a small sigmoid model ranks them well but
    not perfectly (a ROC curve with some shape) without saturating its probabilities."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split, count in (("train", per_class_train), ("validation", per_class_validation)):
            for cls, sign in (("left", 1), ("right", -1)):
                for i in range(count):
                    contrast = sign * rng.uniform(-25, 55)
                    pixels = bytes(max(0, min(255, int(115 + (contrast if x < 14 else -contrast) / 2 + rng.uniform(-60, 60))))
                                   for y in range(28) for x in range(28))
                    z.writestr(f"{split}/{cls}/{i}.png", png(pixels, 28, 28))
    return buffer.getvalue()


def test_binary_folder_model_roc_curve_and_best_epoch(driver):
    up = api("/v1/datasets?name=left-right", folder_dataset_zip(), "application/zip")
    assert up["classes"] == ["left", "right"]
    go(driver, "#/jobs")
    spec = open_form(driver, "fashion-dense")
    spec.update({"name": "dash-roc", "callbacks": [],
                 "dataset": {"directory": "left-right", "target_size": [28, 28], "color_mode": "grayscale", "class_mode": "binary"},
                 "model": {"input_shape": [28, 28, 1], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                 "compile": {"optimizer": {"type": "adam", "learning_rate": 0.01}, "loss": "binary_crossentropy", "metrics": ["accuracy"]},
                 "fit": {"epochs": 5, "batch_size": 16, "shuffle": True, "seed": 1}})
    set_editor(driver, json.dumps(spec, indent=2))
    job_id = submit_and_open(driver)
    wait(driver, lambda d: job_state(d) == "succeeded", timeout=120, message="the binary folder job never succeeded")
    epochs = api(f"/v1/jobs/{job_id}/epochs")["epochs"]
    assert len(epochs) == 5 and all("val_loss" in e for e in epochs)

    # The job page: the best epoch (lowest val_loss, no early_stopping here) is marked on both curves.
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="epoch"]').find_element(By.XPATH, "..").click()
    best = min(epochs, key=lambda e: e["val_loss"])["epoch"]
    for chart in ("chart-loss", "chart-acc"):
        # The marks are redrawn as the epochs arrive: read them inside the wait, which looks again when stale.
        def marked(d, chart=chart):
            mark = d.find_element(By.CSS_SELECTOR, f'#{chart} [data-testid="mark-best"]')
            return mark.get_attribute("data-x") == str(best) and f"epoch {best}" in mark.text
        wait(driver, marked, message=f"no best-epoch mark at epoch {best} on {chart}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", driver.find_element(By.ID, "chart-loss"))
    shot(driver, "job-best-epoch", full=False)
    js(driver, "window.scrollTo(0, 0)")
    driver.find_element(By.CSS_SELECTOR, 'input[name="job-x"][value="step"]').find_element(By.XPATH, "..").click()

    # The model page: the ROC curve with its diagonal and AUC, and the threshold slider moving the numbers.
    link = driver.find_element(By.ID, "job-model")
    wait(driver, lambda d: link.is_displayed())
    link.click()
    curve = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="roc-curve"]'), timeout=30)
    model_id = api(f"/v1/jobs/{job_id}")["model_id"]
    evaluation = api(f"/v1/models/{model_id}/evaluation")
    roc = evaluation["roc"]
    assert evaluation["samples"] == 40 and evaluation["classes"] == ["left", "right"]
    assert roc[0]["threshold"] is None and all(isinstance(p["threshold"], (int, float)) for p in roc[1:])
    assert int(curve.get_attribute("data-points")) == len(roc)
    assert curve.find_element(By.CSS_SELECTOR, '[data-testid="roc-diagonal"]')
    auc = ("%.3f" % evaluation["auc"]).rstrip("0").rstrip(".")   # as the page prints it (toFixed, no trailing 0s)
    assert f"AUC {auc}" in curve.find_element(By.CSS_SELECTOR, '[data-testid="roc-auc"]').text
    assert curve.find_element(By.CSS_SELECTOR, "path.curve").get_attribute("d").count("L") == len(roc) - 1

    def readout():
        return {dd.get_attribute("data-key"): dd.text for dd in driver.find_elements(By.CSS_SELECTOR, '[data-testid="operating-point"] dd')}

    def marker():
        m = driver.find_element(By.CSS_SELECTOR, '[data-testid="roc-marker"]')
        return m.get_attribute("cx"), m.get_attribute("cy")

    positives = evaluation["per_class"][1]["support"]
    negatives = evaluation["per_class"][0]["support"]

    def expected(t):
        """(TP, FP) at slider value t: the stored point of lowest threshold still ≥ t (null: none positive)."""
        p = [q for q in roc if q["threshold"] is None or q["threshold"] >= t][-1]
        return str(round(p["tpr"] * positives)), str(round(p["fpr"] * negatives))

    slider = driver.find_element(By.CSS_SELECTOR, '[data-testid="threshold"]')
    assert slider.get_attribute("value") == "0.5"
    at_half = readout()
    assert (at_half["true positives"], at_half["false positives"]) == expected(0.5)
    assert int(at_half["true positives"]) + int(at_half["false negatives"]) == positives
    assert int(at_half["false positives"]) + int(at_half["true negatives"]) == negatives
    slider.send_keys(Keys.HOME)   # threshold 0: everything positive
    wait(driver, lambda d: driver.find_element(By.ID, "eval-threshold-out").text == "0.00")
    low, marker_low = readout(), marker()
    assert (low["true positives"], low["false positives"], low["TPR"], low["FPR"], low["recall"]) == (
        str(positives), str(negatives), "1", "1", "1")
    # Up the slider with the arrow keys to the middle of the curve's thresholds: fewer positives, the marker moves.
    finite = sorted(q["threshold"] for q in roc[1:])
    steps = math.ceil(finite[len(finite) // 2] * 100)
    for _ in range(steps):
        slider.send_keys(Keys.ARROW_RIGHT)
    wait(driver, lambda d: driver.find_element(By.ID, "eval-threshold-out").text == f"{steps / 100:.2f}")
    middle = readout()
    assert middle != low and marker() != marker_low, "the threshold slider did not change the numbers"
    assert (middle["true positives"], middle["false positives"]) == expected(steps / 100)
    assert int(middle["true positives"]) + int(middle["false positives"]) < positives + negatives
    driver.execute_script("arguments[0].scrollIntoView()", curve)
    shot(driver, "model-page-roc")


def test_polling_when_event_streams_are_unavailable(driver):
    # A proxy that breaks Server-Sent Events, or a browser without them: the page polls instead.
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
    try:
        driver.get(URL + "/?no-event-source#/jobs")   # a new document, so the script above runs
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-item")) >= 2)
        assert js(driver, "return typeof EventSource") == "undefined"
        spec = open_form(driver, "fashion-dense")
        spec["name"] = "dash-polled"
        spec["dataset"]["train_limit"] = 2000
        spec["dataset"]["test_limit"] = 300
        spec["fit"]["epochs"] = 4
        set_editor(driver, json.dumps(spec))
        submit_and_open(driver)
        saw_polling = False
        deadline = time.time() + 90
        while time.time() < deadline and job_state(driver) not in ("succeeded", "failed", "cancelled"):
            if job_state(driver) == "running" and driver.find_element(By.ID, "conn-status").text == "polling":
                saw_polling = True
            time.sleep(0.2)
        assert job_state(driver) == "succeeded"
        assert saw_polling
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#epoch-table tbody tr")) == 4)
        wait(driver, lambda d: points(d, "chart-loss") > 10)
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
        driver.get(URL + "/#/jobs")
        wait(driver, lambda d: js(d, "return typeof EventSource") == "function")


def test_phone_layout_and_dark_mode(driver):
    try:
        driver.set_window_size(390, 844)
        go(driver, f"#/jobs/{STATE['cnn']}")
        wait(driver, lambda d: d.find_element(By.ID, "job-title").text == "dash-cnn")
        wait(driver, lambda d: points(d, "chart-loss") > 0)
        # The list gives way to the job on a phone, and nothing scrolls sideways.
        assert not driver.find_element(By.ID, "job-list").is_displayed()
        assert driver.find_element(By.CSS_SELECTOR, ".back-link").is_displayed()
        assert js(driver, "return document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(driver, "06-phone-job", full=False)
        go(driver, "#/predict")
        assert js(driver, "return document.documentElement.scrollWidth <= window.innerWidth + 1")
        driver.set_window_size(1280, 900)
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        go(driver, f"#/jobs/{STATE['cnn']}")
        background = js(driver, "return getComputedStyle(document.body).backgroundColor")
        rgb = [int(v) for v in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
        assert sum(rgb) < 150, background
        text = js(driver, "return getComputedStyle(document.body).color")
        assert sum(int(v) for v in text[text.index("(") + 1:text.index(")")].split(",")[:3]) > 500, text
        shot(driver, "07-dark-job", full=False)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        driver.set_window_size(1280, 900)


def test_filter_note_and_download_the_epochs_csv(driver):
    job_id = STATE["cnn"]
    go(driver, f"#/jobs/{job_id}")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#epoch-table tbody tr")) >= 1)
    # The note saves with PATCH and comes back with the job.
    note = driver.find_element(By.ID, "job-note")
    note.clear()
    note.send_keys("baseline CNN, lr 1e-3")
    driver.find_element(By.ID, "job-note-save").click()
    wait(driver, lambda d: d.find_element(By.ID, "job-note-status").text == "Saved.")
    assert api(f"/v1/jobs/{job_id}")["note"] == "baseline CNN, lr 1e-3"
    # The search box finds it by its note; the state filter leaves the cancelled dense job out.
    search = driver.find_element(By.ID, "filter-q")
    search.send_keys("BASELINE")
    wait(driver, lambda d: [li.get_attribute("data-id") for li in d.find_elements(By.CSS_SELECTOR, ".job-item")] == [job_id])
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    Select(driver.find_element(By.ID, "filter-state")).select_by_value("cancelled")
    wait(driver, lambda d: [li.get_attribute("data-id") for li in d.find_elements(By.CSS_SELECTOR, ".job-item")]
         == [STATE["dense"]])
    Select(driver.find_element(By.ID, "filter-state")).select_by_value("")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-item")) == len(api("/v1/jobs")["jobs"]) >= 3)
    # The CSV link: fetched as the browser would download it.
    href = driver.find_element(By.ID, "job-epochs-csv").get_attribute("href")
    with urllib.request.urlopen(href, timeout=10) as r:
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="')
        lines = r.read().decode().split("\r\n")
    assert lines[-1] == ""
    keys = sorted({k for e in api(f"/v1/jobs/{job_id}/epochs")["epochs"] for k in e}
                  - {"epoch", "learning_rate", "duration_seconds", "samples_per_second", "finished_at"})
    assert lines[0] == ",".join(["epoch"] + keys + ["learning_rate", "duration_seconds", "samples_per_second", "finished_at"])
    assert len(lines) - 2 == len(api(f"/v1/jobs/{job_id}/epochs")["epochs"]) == 3
    assert lines[1].startswith("1,")


def test_delete_a_finished_job(driver):
    job_id = STATE["dense"]
    # Its page, opened after the delete, asks for it and gets 404s on purpose.
    EXPECTED_FAILURES.update({(f"/v1/jobs/{job_id}", 404), (f"/v1/jobs/{job_id}/epochs", 404)})
    go(driver, "#/jobs")
    item = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'.job-item[data-id="{job_id}"]'))
    button = item.find_element(By.CSS_SELECTOR, ".job-delete")
    assert button.is_displayed()
    assert not driver.find_element(By.CSS_SELECTOR, f'.job-item[data-id="{STATE["cnn"]}"] .job-cancel').is_displayed()
    button.click()
    WebDriverWait(driver, 10).until(EC.alert_is_present()).accept()
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f'.job-item[data-id="{job_id}"]'),
         message="the deleted job stayed in the list")
    listed = [j["id"] for j in api("/v1/jobs")["jobs"]]
    assert job_id not in listed and STATE["cnn"] in listed
    go(driver, f"#/jobs/{job_id}")
    wait(driver, lambda d: "does not exist" in d.find_element(By.ID, "job-problem").text)
    assert driver.find_element(By.ID, "job-title").text == f"No job {job_id}"
    shot(driver, "08-deleted-job")


def test_no_console_errors(driver):
    # One more look after everything settled (the collect_console fixture gathered the rest).
    time.sleep(0.5)
    CONSOLE.extend(driver.get_log("browser"))
    assert unexpected_console(CONSOLE) == []
