"""End to end: `vsearch ui` on localhost, driven by headless Chromium from Debian's packages.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`apt-get install chromium chromium-driver`;
.ci/run installs them). The screenshot is written to $VSEARCH_SCREENSHOT_DIR (default: the
test's tmp folder).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ui_fixtures import build_ui_collection, free_port, start_ui

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def ensure_browser() -> None:
    if Path(CHROMIUM).is_file() and Path(DRIVER).is_file():
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not (Path(CHROMIUM).is_file() and Path(DRIVER).is_file()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ensure_browser()
    home, _ = build_ui_collection(tmp_path_factory.mktemp("ui-e2e"))
    port = free_port()
    proc = start_ui([sys.executable, "-m", "vsearch.cli", "ui", "photos", "--home", home], port,
                    tmp_path_factory.mktemp("log") / "streamlit.log")
    yield f"http://localhost:{port}"
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--window-size=1500,1100"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()


def test_search_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 90)
    browser.get(server)
    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "input[aria-label='Describe a photo']")))
    box.send_keys("a dog running on the grass", Keys.ENTER)

    def loaded_results(drv):
        imgs = drv.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] [data-testid='stImage'] img")
        done = [i for i in imgs if drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)]
        return done if len(done) >= 20 else False

    imgs = wait.until(loaded_results)
    sizes = [browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", i) for i in imgs]
    assert all(0 < max(s) <= 320 for s in sizes)  # thumbnails, not full-size photos
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] [data-testid='stCaptionContainer'] strong")]
    assert len(names) >= 20 and all(n.replace("\u2060", "").endswith(".jpg") for n in names)  # word joiners: escape.for_markdown
    out = Path(os.environ.get("VSEARCH_SCREENSHOT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "ui-search.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
