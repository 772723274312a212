"""The review console in Debian's headless Chromium, driven by selenium and chromedriver.

Nothing is downloaded: the browser and the driver are the system's (``.ci/chromium.sh``
installs them); in CI a missing one fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardrails import Reason
from guardrails.apps.console import TokenFile, create_app
from guardrails.review.queue import BaseQueue
from guardrails.review.sqlite import SQLiteQueue
from tests.review_support import case

INSTALL_HINT = "install Debian's chromium and chromium-driver, or run .ci/chromium.sh"
SHOT_ENV = "GUARDRAILS_CONSOLE_SCREENSHOT"  # also save the case page there (for the docs)


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: {INSTALL_HINT}")
    pytest.skip(f"{what} is not installed here: {INSTALL_HINT}")


def _tool(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if found is None:
        _missing(name)
    return str(found)


try:
    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # pragma: no cover - the dev extra has them
    if os.environ.get("CI"):
        raise
    pytest.skip("selenium and uvicorn come with the dev extra", allow_module_level=True)


class Server:
    """The console on a free loopback port, in a thread of this process."""

    def __init__(self, queue: BaseQueue, tokens: TokenFile) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            create_app(queue, tokens), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                pytest.fail("the console did not start within 30 s")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[dict[str, Any]]:
    queue = SQLiteQueue(tmp_path / "review.db")
    tokens = TokenFile(tmp_path / "reviewers.json")
    secrets = {name: tokens.add(name) for name in ("ana", "bob")}
    server = Server(queue, tokens)
    yield {"queue": queue, "tokens": secrets, "url": server.url, "tmp": tmp_path}
    server.stop()
    queue.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium, driver_path = _tool("chromium"), _tool("chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,1100",
    ):
        options.add_argument(flag)
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(service=service, options=options)  # no Selenium Manager lookup
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _sign_in(driver: Any, url: str, name: str, token: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/signin")
    driver.find_element(By.ID, "reviewer-name").send_keys(name)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin button").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "lanes"))
    assert driver.find_element(By.ID, "reviewer").text == name


def _absent(driver: Any, by: str, selector: str) -> bool:
    """True when the loaded page has no such element (asked without the implicit wait)."""
    driver.implicitly_wait(0)
    try:
        return not driver.find_elements(by, selector)
    finally:
        driver.implicitly_wait(5)


def _press(driver: Any, key: str) -> None:
    """Press ``key`` on the page once its keyboard script has run."""
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "document.documentElement.getAttribute('data-keys') === 'ready'"
        )
    )
    driver.find_element(By.TAG_NAME, "body").click()
    ActionChains(driver).send_keys(key).perform()


def _pending(driver: Any, kind: str) -> int:
    lane = driver.find_element(By.ID, f"lane-{kind}")
    return int(lane.find_element(By.CSS_SELECTOR, '[data-count="pending"]').text.rstrip("+"))


def _open_next_case(driver: Any) -> str:
    """Click "next" and wait for the case page it loads (a script run before that page
    is complete dies with the page it replaces); the id of the case it opened."""
    driver.find_element(By.ID, "next").click()
    WebDriverWait(driver, 30).until(
        lambda d: (
            "/cases/" in d.current_url
            and d.execute_script("return document.readyState") == "complete"
            and d.find_elements(By.ID, "case-id")
        )
    )
    return str(driver.find_element(By.ID, "case-id").text)


def _fetch_status(driver: Any, path: str, body: str) -> int:
    """POST a urlencoded body from the page (same origin, with its cookies); the status."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', body: arguments[1], redirect: 'manual',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'}})"
        ".then(r => done(r.status)).catch(e => done(String(e)));"
    )
    return int(driver.execute_async_script(script, path, body))


def test_sign_in_filter_open_resolve_with_a_key_and_see_the_queue_update(
    setup: dict[str, Any], browser: Any
) -> None:
    queue, url = setup["queue"], setup["url"]
    first, second, _ = queue.enqueue(
        [
            case(
                priority=0.9,
                input={"age": -3, "income": 5200.0, "ssn": "[REDACTED]", "city": "Lyon"},
                proba=[0.35, 0.65],
                confidence=0.65,
                candidate="dog",
                prediction_set=["cat", "dog"],
                stages_tried=["primary", "rules"],
                stage="primary",
                detail="invalid input: age: Input should be >= 0 (got -3)",
                guard="pets",
                version="3",
            ),
            case(priority=0.5, input={"age": 7, "income": 3100.0}, proba=[0.55, 0.45]),
            case(kind="audit", reason=Reason.NONE, input={"age": 30}),
        ]
    )
    _sign_in(browser, url, "ana", setup["tokens"]["ana"])
    assert _pending(browser, "withheld") == 2

    Select(browser.find_element(By.ID, "f-kind")).select_by_value("withheld")
    browser.find_element(By.ID, "apply").click()
    # the filter is a GET form: read the rows of the new page, not of the one it replaces
    WebDriverWait(browser, 30).until(
        lambda d: (
            "kind=withheld" in d.current_url
            and d.execute_script("return document.readyState") == "complete"
        )
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
    assert [r.get_attribute("data-case") for r in rows] == [first, second]

    rows[0].find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.ID, "case-id").text == first
    _press(browser, "c")  # claim this case
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "resolve-form"))
    failed = browser.find_elements(By.CSS_SELECTOR, "#input tr.failed")
    assert [r.get_attribute("data-field") for r in failed] == ["age"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#proba-chart rect.bar")) == 2

    shot = setup["tmp"] / "case.png"
    browser.save_screenshot(str(shot))
    _check_not_blank(shot)
    if os.environ.get(SHOT_ENV):
        shutil.copyfile(shot, os.environ[SHOT_ENV])

    _press(browser, "1")  # the first class: "cat"
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "flash"))
    assert browser.find_element(By.ID, "case-id").text == second  # the next case opened
    assert queue.get(first).status == "resolved"
    assert (queue.get(first).label, queue.get(first).reviewer) == ("cat", "ana")
    assert queue.get(second).claimed_by == "ana"

    _press(browser, "q")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "lanes"))
    assert _pending(browser, "withheld") == 0  # one resolved, one claimed by ana
    assert second in browser.find_element(By.ID, "mine").text
    assert _pending(browser, "audit") == 1


def test_a_second_reviewer_cannot_resolve_a_case_the_first_claimed(
    setup: dict[str, Any], browser: Any
) -> None:
    queue, url = setup["queue"], setup["url"]
    [cid] = queue.enqueue([case()])
    _sign_in(browser, url, "ana", setup["tokens"]["ana"])
    assert _open_next_case(browser) == cid
    assert queue.get(cid).claimed_by == "ana"

    _sign_in(browser, url, "bob", setup["tokens"]["bob"])
    browser.get(f"{url}/cases/{cid}")
    assert "claimed by ana" in browser.find_element(By.ID, "held").text
    assert _absent(browser, By.ID, "resolve-form")
    _press(browser, "1")  # no label buttons: nothing happens
    browser.get(f"{url}/")
    csrf = browser.find_element(By.CSS_SELECTOR, "#next-form input[name=csrf]").get_attribute(
        "value"
    )
    assert _fetch_status(browser, f"/cases/{cid}/resolve", f"csrf={csrf}&label=dog") == 409
    assert (queue.get(cid).status, queue.get(cid).claimed_by) == ("claimed", "ana")


def test_html_in_a_case_shows_as_text_and_runs_no_script(
    setup: dict[str, Any], browser: Any
) -> None:
    queue, url = setup["queue"], setup["url"]
    evil = "<script>window.pwned = 1; document.title = 'pwned'</script>"
    image = '<img src="x" onerror="window.pwned = 2">'
    [cid] = queue.enqueue([case(input={"comment": evil, "avatar": image}, candidate=image)])
    _sign_in(browser, url, "ana", setup["tokens"]["ana"])
    browser.get(f"{url}/cases/{cid}")
    text = browser.find_element(By.ID, "input").text
    assert evil in text and image in text
    assert browser.execute_script("return window.pwned === undefined")
    assert "pwned" not in browser.title
    assert _absent(browser, By.CSS_SELECTOR, "#input img, #input script")


def test_a_request_without_csrf_is_refused_and_a_wrong_token_gets_401(
    setup: dict[str, Any], browser: Any
) -> None:
    queue, url = setup["queue"], setup["url"]
    [cid] = queue.enqueue([case()])
    browser.get(f"{url}/signin")
    csrf = browser.find_element(By.CSS_SELECTOR, "#signin input[name=csrf]").get_attribute("value")
    assert _fetch_status(browser, "/signin", f"csrf={csrf}&reviewer=ana&token=wrong") == 401
    browser.find_element(By.ID, "reviewer-name").send_keys("ana")
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.CSS_SELECTOR, "#signin button").click()
    assert "wrong token" in browser.find_element(By.ID, "error").text

    _sign_in(browser, url, "ana", setup["tokens"]["ana"])
    assert _open_next_case(browser) == cid
    assert _fetch_status(browser, f"/cases/{cid}/resolve", "label=dog") == 403
    assert queue.get(cid).status == "claimed"


def _check_not_blank(shot: Path) -> None:
    # matplotlib comes with the dev extra (the report's plots); it decodes the PNG.
    from matplotlib.image import imread

    image = imread(shot)
    pixels = np.round(image[..., :3] * 255).astype(np.int16).reshape(-1, 3)
    distinct = np.unique(pixels, axis=0).shape[0]
    assert distinct > 100, f"only {distinct} distinct colours: a blank or error page"
    ink = (pixels < 235).any(axis=1).mean()
    assert ink > 0.02, f"only {ink:.1%} of the screenshot is not white"
