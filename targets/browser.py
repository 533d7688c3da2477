"""Headless Chromium for the code that drives web pages (the EIS portal, the visualiser's test):
Debian's ``/usr/bin/chromium`` with its ``/usr/bin/chromedriver``, nothing downloaded at run
time, quiet and light (no images, extensions, background traffic), and, when asked,
``loopback_only`` (every host name but 127.0.0.1 and localhost resolves to nothing, so a page
cannot reach the internet)."""
from __future__ import annotations

import os
from pathlib import Path

from targets.errors import ConfigError


def headless_chromium(chromium: str = "/usr/bin/chromium", chromedriver: str = "/usr/bin/chromedriver",
                      download_dir: Path | None = None, loopback_only: bool = False, size: str = "1280,1024",
                      images: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    for path, package in ((chromium, "chromium"), (chromedriver, "chromium-driver")):
        if not Path(path).exists():
            raise ConfigError(f"{path} is missing: sudo apt-get install -y {package}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--renderer-process-limit=2", f"--window-size={size}") \
            + (() if images else ("--blink-settings=imagesEnabled=false",)) \
            + (("--no-sandbox",) if os.geteuid() == 0 else ()):
        options.add_argument(arg)
    if loopback_only:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost")
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False,
                                                  "download.directory_upgrade": True})
    return webdriver.Chrome(service=Service(chromedriver), options=options)
