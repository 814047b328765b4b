"""Screenshot of the UI's search page (the README's picture), taken in headless Chromium.

    python docs/screenshot.py --home DIR --collection NAME --query "two dogs playing in the snow" --out docs/ui-search.png
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--query", default="two dogs playing in the snow")
    ap.add_argument("--out", default="docs/ui-search.png")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server = subprocess.Popen([sys.executable, "-m", "vsearch.cli", "ui", args.collection, "--home", args.home,
                               "--port", str(args.port), "--no-browser"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://localhost:{args.port}"
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            opts.add_argument(a)
        drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            drv.get(url)
            box = WebDriverWait(drv, 120).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "input[aria-label='Describe a photo']")))
            box.send_keys(args.query, Keys.ENTER)
            WebDriverWait(drv, 120).until(lambda d: len([i for i in d.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] [data-testid='stImage'] img")
                                                          if d.execute_script("return arguments[0].naturalWidth > 0", i)]) >= 10)
            time.sleep(1)
            drv.save_screenshot(args.out)
            print(args.out)
        finally:
            drv.quit()
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
