"""Browser test of the trading page (web/static), in headless Chromium via Selenium.

Starts a dev node (the page built into the binary, or CLOBCHAIN_WEB_DIR's copy), opens the
page in two browser sessions with their own keys, trades between them through the page's
own order form, and checks the book, trades tape, fills, candles, "load more", cancel, amend
and the form's tick check, against the DOM and the node's REST API. Screenshots (1400x900) go to
target/browser-artifacts/.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install chromium
chromium-driver) and a clobchain binary: $CLOBCHAIN_BIN, else $CARGO_TARGET_DIR/debug/clobchain
or <repo>/target/debug/clobchain.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "target" / "browser-artifacts"
WAIT_S = 15


def _find(name, fallback):
    found = shutil.which(name)
    return found or (fallback if os.path.exists(fallback) else None)


CHROMIUM = _find("chromium", "/usr/bin/chromium")
CHROMEDRIVER = _find("chromedriver", "/usr/bin/chromedriver")
if not CHROMIUM or not CHROMEDRIVER:
    pytest.skip(
        "browser test needs Chromium and ChromeDriver "
        f"(chromium: {CHROMIUM or 'not found'}, chromedriver: {CHROMEDRIVER or 'not found'}); "
        "install them with: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# docs/API.md, "Worked example": dev0 buys one lot of BTC-USD at $65,000.00, nonce 1.
DEV0_SECRET = "6c2674288095013eb3103cff5d32e23ab15cc988bba70ec8dac8d99b4461ced6"
DEV0_PUBLIC = "ff255bd53861d7a19244b6f34117cd7ff97b666a3afcf3af0b6e63b784da5640"
WORKED_TX = (  # 140 bytes: the transaction, then the 64-byte signature
    "3905000000000000ff255bd53861d7a19244b6f34117cd7ff97b666a3afcf3af0b6e63b784da5640"
    "0100000000000000000000000000000000a02e6300000000001027000000000000000000"
    "8fdd483e9063e7a35680a9bd70a61ef3126ef10ebf8e8f4fbb51419e8fdddaf9"
    "7e3f74a1d810fa25cbdb97cc67892363ebaa6b875baa77eafa465edc78042e02"
)
WORKED_HASH = "5452edece0203ae0f958e3a1be621dc3008e52fbd08edb71bc74139830f82658"
WORKED_ORDER_ID = "8476941294980076824"


# ---------------------------------------------------------------- the node

def _binary():
    explicit = os.environ.get("CLOBCHAIN_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"CLOBCHAIN_BIN={explicit} is not an executable file")
        return explicit
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "clobchain")
    candidates.append(REPO / "target" / "debug" / "clobchain")
    for c in candidates:
        if c.exists():
            return str(c)
    pytest.skip("no clobchain binary: set CLOBCHAIN_BIN or build it (cargo build); looked at "
                + ", ".join(map(str, candidates)))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, base):
        self.base = base

    def get(self, path):
        """(status, JSON body) of a GET."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, body.decode(errors="replace")

    def json(self, path):
        status, body = self.get(path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def book(self, market=0):
        return self.json(f"/v1/markets/{market}/book?depth=100")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    binary = _binary()
    data = tmp_path_factory.mktemp("node-data")
    port = _free_port()
    cmd = [binary, "node", "--data", str(data), "--listen", f"127.0.0.1:{port}", "--block-interval-ms", "20"]
    if os.environ.get("CLOBCHAIN_WEB_DIR"):
        cmd += ["--web-dir", os.environ["CLOBCHAIN_WEB_DIR"]]
    log = open(data / "node.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    n = Node(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"node exited with {proc.returncode}: {(data / 'node.log').read_text()[-2000:]}")
        try:
            if n.get("/v1/health")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("node did not answer /v1/health within 30 s")
        time.sleep(0.1)
    yield n
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


# ---------------------------------------------------------------- browsers

class Page:
    """One browser session (its own profile, so its own key in localStorage)."""

    def __init__(self, name, base):
        self.name = name
        self.profile = tempfile.mkdtemp(prefix=f"clobchain-{name}-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1400,900", f"--user-data-dir={self.profile}"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        self.d.get(base + "/")
        self.severe = []

    def wait(self, cond, what, timeout=WAIT_S):
        """Waits until cond(self) is truthy; fails with `what` and the page's messages."""
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(lambda _d: cond(self))
        except Exception as e:  # TimeoutException, or a JS error that never clears
            pytest.fail(f"[{self.name}] timed out waiting for {what} ({type(e).__name__}); "
                        f"page messages: {self.messages()!r}")

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def click(self, css):
        """Clicks the element matching `css` once it is there (found again if re-rendered)."""
        def attempt(p):
            try:
                p.d.find_element(By.CSS_SELECTOR, css).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        self.wait(attempt, f"to click {css}")

    def by_id(self, id_):
        return self.d.find_element(By.ID, id_)

    def rows(self, selector):
        """The dataset of each row matching a CSS selector."""
        return self.js("return [...document.querySelectorAll(arguments[0])].map(e => ({...e.dataset}))", selector)

    def book_rows(self, side):
        return self.rows(f'[data-testid=book-row][data-side="{side}"]')

    def open_orders(self):
        return self.rows("[data-testid=open-order]")

    def fills(self):
        return self.rows("[data-testid=fill-row]")

    def trades(self):
        return self.rows("[data-testid=trade-row]")

    def messages(self):
        try:
            return self.js("return document.getElementById('messages').innerText")
        except Exception:
            return "?"

    def account(self):
        return self.by_id("account-key").text

    def submitted(self):
        return self.js("return window.clob.state.submitted")

    def console_errors(self, expected=()):
        """SEVERE console entries, less those that contain every one of the `expected` strings."""
        errors = [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"
                  and not (expected and all(x in e["message"] for x in expected))]
        self.severe += errors
        return errors

    def screenshot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def use_demo_account(self):
        self.by_id("demo-account").click()
        self.wait(lambda p: len(p.account()) == 64 and any(
            b.get("asset") == "USD" and int(b.get("available", 0)) > 0 for b in p.rows("#balances tbody tr")),
            "the demo account to be funded")
        return self.account()

    def place(self, side, price, size, order_type="limit", gtb=""):
        """Fills the order form and submits it; returns the number of transactions sent before."""
        before = self.submitted()
        self.by_id("gtb").clear()
        if gtb:
            self.by_id("gtb").send_keys(str(gtb))
        self.d.find_element(By.CSS_SELECTOR, f'label[for="side-{side}"]').click()
        Select(self.by_id("order-type")).select_by_value(order_type)
        for id_, value in (("price", price), ("size", size)):
            box = self.by_id(id_)
            box.clear()
            box.send_keys(value)
        self.by_id("submit-order").click()
        return before

    def wait_submitted(self, before, what):
        self.wait(lambda p: p.submitted() > before and p.by_id("submit-order").is_enabled(), what)
        msgs = self.messages()
        assert "rejected" not in msgs.split("\n")[0], f"[{self.name}] {what}: {msgs}"


class Pages:
    """Opens a browser session per trader name, on first use."""

    def __init__(self, base):
        self.base = base
        self.opened = {}

    def __call__(self, name):
        if name not in self.opened:
            p = self.opened[name] = Page(name, self.base)
            p.wait(lambda p: p.js("return document.body.dataset.ready") == "true", "the page to start")
        return self.opened[name]


@pytest.fixture(scope="module")
def pages(node):
    opened = Pages(node.base)
    yield opened
    for p in opened.opened.values():
        p.d.quit()
        shutil.rmtree(p.profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_console_errors(pages, request):
    """After every test, no browser session may have logged a SEVERE console message."""
    yield
    for p in pages.opened.values():
        errors = p.console_errors()
        assert not errors, f"[{p.name}] console errors during {request.node.name}: {errors}"


# ---------------------------------------------------------------- the flow
# The tests run in file order and build on each other (one node, two traders).

BTC = 0
A_BID = ("65000.00", "0.0100")  # 6,500,000 atoms per lot, 1,000,000 sats
B_ASK = ("65050.00", "0.0200")  # resting ask (so the depth chart has both sides)
B_CROSS = ("64990.00", "0.0040")  # crosses A's bid: fills 400,000 sats at 6,500,000


def test_01_page_loads_without_console_errors(pages, node):
    a = pages("A")
    a.wait(lambda p: p.by_id("ws-status").get_attribute("data-state") == "live", "the websocket")
    a.wait(lambda p: p.js("return window.clob.state.book.ready"), "the book snapshot")
    assert a.by_id("market-select").get_attribute("value") == str(BTC)
    options = [o.text for o in Select(a.by_id("market-select")).options]
    assert [m["symbol"] for m in node.json("/v1/markets")] == options
    warning = a.by_id("dev-warning").text
    assert "localStorage" in warning and "dev" in warning.lower()
    a.wait(lambda p: p.by_id("height").text.isdigit(), "the chain height in the header")
    # The page itself: html, module scripts and css served by the node, no external URLs.
    for src in a.js("return [...document.querySelectorAll('script[src],link[href]')].map(e => e.src || e.href)"):
        assert src.startswith(node.base + "/static/"), src
    a.screenshot("01-loaded")
    assert a.console_errors() == []


def test_02_encoder_reproduces_the_worked_example(pages):
    a = pages("A")
    got = a.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const b = await import('/static/borsh.js');
          const key = await b.importSecret(arguments[0]);
          const s = await b.signTransaction(key, {chain_id: 1337, signer: key.publicKey, nonce: 1n,
            action: {type: 'place', market: 0, side: 'buy', price: 6500000n, qty: 10000n,
                     time_in_force: 'gtc', post_only: false, self_trade: 'cancel_resting'}});
          return {pub: key.publicKey, tx: s.hex, hash: s.hash, sig: s.signature,
                  id: await b.orderId(key.publicKey, 1n, 0)};
        })().then(done, e => done({error: String(e)}));
    """, DEV0_SECRET)
    assert "error" not in got, got
    assert got["pub"] == DEV0_PUBLIC
    assert got["tx"] == WORKED_TX
    assert got["sig"] == WORKED_TX[-128:]
    assert got["hash"] == WORKED_HASH
    assert got["id"] == WORKED_ORDER_ID
    api_md = REPO / "docs" / "API.md"
    if api_md.exists():  # the constants above are the documented ones
        doc = api_md.read_text()
        for value in (WORKED_TX, WORKED_HASH, WORKED_ORDER_ID):
            assert value in doc, f"docs/API.md no longer shows {value[:16]}…"


def test_03_a_places_a_limit_buy(pages, node):
    a = pages("A")
    acct = a.use_demo_account()
    assert node.json(f"/v1/accounts/{acct}")["exists"]
    before = a.place("buy", *A_BID)
    a.wait_submitted(before, "the buy to commit")
    a.wait(lambda p: {"price": "6500000", "qty": "1000000"}.items() <= (p.book_rows("buy") or [{}])[0].items(),
           "the bid at 65000.00 in the book ladder")
    a.wait(lambda p: any(o["price"] == "6500000" and o["qty"] == "1000000" and o["side"] == "buy"
                         for o in p.open_orders()), "the order in open orders")
    assert node.book()["bids"][0] == [6500000, 1000000]
    orders = node.json(f"/v1/accounts/{acct}/orders")
    assert [(o["price"], o["qty_remaining"]) for o in orders] == [(6500000, 1000000)]
    assert a.open_orders()[0]["orderId"] == orders[0]["order_id"]
    a.screenshot("03-a-limit-buy")


def test_04_b_crosses_and_both_see_the_fill(pages, node):
    a, b = pages("A"), pages("B")
    acct_b = b.use_demo_account()
    assert acct_b != a.account(), "the second session must have its own key"
    before = b.place("sell", *B_ASK)
    b.wait_submitted(before, "B's resting ask")
    a.wait(lambda p: any(r["price"] == "6505000" for r in p.book_rows("sell")), "B's ask in A's book")
    before = b.place("sell", *B_CROSS)
    b.wait_submitted(before, "B's crossing sell")

    fill = {"price": "6500000", "qty": "400000"}
    for p in (a, b):
        p.wait(lambda p: any(fill.items() <= t.items() for t in p.trades()), "the trade in the tape")
    a.wait(lambda p: any({**fill, "side": "buy"}.items() <= f.items() for f in p.fills()), "A's fill (buy)")
    b.wait(lambda p: any({**fill, "side": "sell"}.items() <= f.items() for f in p.fills()), "B's fill (sell)")
    a.wait(lambda p: any(r["price"] == "6500000" and r["qty"] == "600000" for r in p.book_rows("buy")),
           "A's bid reduced to 0.0060 in the ladder")

    # The candle chart has the trade's candle (page state), and the node agrees (REST).
    for p in (a, b):
        p.wait(lambda p: int(p.by_id("candles-canvas").get_attribute("data-candles")) >= 1, "a candle")
        candles = p.js("return [...window.clob.state.candles.values()]")
        assert any(c["close"] == 6500000 and int(c["volume"]) >= 400000 for c in candles), candles
    trades = node.json(f"/v1/markets/{BTC}/trades?limit=10")["trades"]
    assert [(t["price"], t["qty"], t["taker_side"]) for t in trades] == [(6500000, 400000, "sell")]
    candles = node.json(f"/v1/markets/{BTC}/candles?interval=1m")["candles"]
    assert [(c["open"], c["close"], c["volume"], c["trades"]) for c in candles] == [(6500000, 6500000, "400000", 1)]
    a.wait(lambda p: p.js("return window.clob.state.candles.get(arguments[0])?.volume",
                          candles[0]["open_time_ms"]) == "400000", "the REST candle in the page's state")
    a.screenshot("04-a-after-fill")
    b.screenshot("04-b-after-fill")


def test_05_cancel_and_amend_from_open_orders(pages, node):
    a = pages("A")
    acct = a.account()
    before = a.place("buy", "64900.00", "0.0200")
    a.wait_submitted(before, "the second buy")
    a.wait(lambda p: any(o["price"] == "6490000" for o in p.open_orders()), "the second order in open orders")
    a.wait(lambda p: any(r["price"] == "6490000" for r in p.book_rows("buy")), "the second order in the book")
    order_id = next(o["orderId"] for o in a.open_orders() if o["price"] == "6490000")
    a.screenshot("05-a-two-orders")

    a.click(f'[data-order-id="{order_id}"] button.cancel')
    a.wait(lambda p: all(o["orderId"] != order_id for o in p.open_orders()), "the cancelled order to leave open orders")
    a.wait(lambda p: all(r["price"] != "6490000" for r in p.book_rows("buy")), "the cancelled order to leave the book")
    assert all(level[0] != 6490000 for level in node.book()["bids"])
    assert node.json(f"/v1/orders/{order_id}")["status"] == "cancelled"

    # Amend the first (partly filled) order: 0.0060 at 65000.00 -> 0.0050 at 64950.00.
    first = next(o["orderId"] for o in a.open_orders() if o["price"] == "6500000")
    a.click(f'[data-order-id="{first}"] button.amend')
    # The click rebuilds the row with the amend form on the page's next render: wait for
    # the form, and fill it again if a render replaced the row meanwhile.
    a.wait(lambda p: p.d.find_elements(By.CSS_SELECTOR, f'[data-order-id="{first}"] .amend-price'),
           "the amend form")
    for attempt in range(5):
        try:
            row = a.d.find_element(By.CSS_SELECTOR, f'[data-order-id="{first}"]')
            for cls, value in (("amend-price", "64950.00"), ("amend-size", "0.0050")):
                box = row.find_element(By.CLASS_NAME, cls)
                box.clear()
                box.send_keys(value)
            row.find_element(By.CLASS_NAME, "amend-save").click()
            break
        except (StaleElementReferenceException, NoSuchElementException):
            if attempt == 4:
                raise
            time.sleep(0.1)
    a.wait(lambda p: any(o["orderId"] == first and o["price"] == "6495000" and o["qty"] == "500000"
                         for o in p.open_orders()), "the amended order in open orders")
    a.wait(lambda p: [(r["price"], r["qty"]) for r in p.book_rows("buy")] == [("6495000", "500000")],
           "the amended level in the book")
    assert node.book()["bids"] == [[6495000, 500000]]
    assert [(o["order_id"], o["price"], o["qty_remaining"]) for o in node.json(f"/v1/accounts/{acct}/orders")] == \
        [(first, 6495000, 500000)]
    a.screenshot("05-a-cancelled-and-amended")


def test_06_off_tick_and_off_lot_are_refused_in_the_form(pages, node):
    a = pages("A")
    acct = a.account()
    nonce = node.json(f"/v1/accounts/{acct}")["last_nonce"]
    before = a.place("buy", "65000.005", "0.0100")
    a.wait(lambda p: p.by_id("form-error").is_displayed(), "the form's error")
    text = a.by_id("form-error").text
    assert "PRICE_OFF_TICK" in text and "multiple of 0.01 USD" in text, text
    a.screenshot("06-a-off-tick-refused")
    before_lot = a.place("buy", "65000.00", "0.00015")
    a.wait(lambda p: "QTY_OFF_LOT" in p.by_id("form-error").text, "the off-lot error")
    assert "multiple of 0.0001 BTC" in a.by_id("form-error").text
    assert a.submitted() == before == before_lot, "nothing may be signed or sent"
    assert node.json(f"/v1/accounts/{acct}")["last_nonce"] == nonce
    assert node.book()["bids"] == [[6495000, 500000]]


def test_07_book_resyncs_after_a_seq_gap_and_a_reconnect(pages, node):
    a, b = pages("A"), pages("B")
    seq = a.js("return window.clob.state.book.seq")
    # A delta that skips a seq must not be applied: the page resubscribes for a snapshot.
    a.js("window.clob.onMessage({type: 'book', market: 0, height: 1, seq: arguments[0] + 5, snapshot: false,"
         " bids: [[1, 10000]], asks: []})", seq)
    a.wait(lambda p: p.js("return window.clob.state.book.ready") and
           p.js("return window.clob.state.book.seq") == seq, "a fresh snapshot after the gap")
    assert all(r["price"] != "1" for r in a.book_rows("buy"))
    # Drop the websocket; the page reconnects by itself and resyncs the book.
    connects = a.js("return window.clob.socket.connects")
    a.js("window.clob.socket.drop()")
    a.wait(lambda p: p.js("return window.clob.socket.connects") > connects and
           p.by_id("ws-status").get_attribute("data-state") == "live", "the websocket to reconnect")
    before = b.place("sell", "65100.00", "0.0010")
    b.wait_submitted(before, "B's third sell")
    a.wait(lambda p: any(r["price"] == "6510000" for r in p.book_rows("sell")), "the new ask after the reconnect")
    # An immediate-or-cancel buy through the form takes the best ask (B's 65050.00).
    before = a.place("buy", "65100.00", "0.0030", order_type="ioc")
    a.wait_submitted(before, "A's IOC buy")
    a.wait(lambda p: any(t["price"] == "6505000" and t["qty"] == "300000" for t in p.trades()), "the IOC's trade")
    a.wait(lambda p: any(c["close"] == 6505000 and c["high"] == 6505000  # (a new minute may have begun)
                         for c in p.js("return [...window.clob.state.candles.values()]")), "the candle to move")
    assert [(o["price"], o["qty"]) for o in a.open_orders()] == [("6495000", "500000")], "an IOC never rests"
    rest = node.book()
    assert rest["asks"] == [[6505000, 1700000], [6510000, 100000]]
    a.wait(lambda p: [[int(r["price"]), int(r["qty"])] for r in p.book_rows("sell")][::-1] == rest["asks"]
           and [[int(r["price"]), int(r["qty"])] for r in p.book_rows("buy")] == rest["bids"],
           "A's ladder to equal the node's book")
    a.screenshot("07-a-live-book-depth-candles-fill")


def test_08_switching_markets(pages, node):
    a = pages("A")
    Select(a.by_id("market-select")).select_by_visible_text("ETH-USD")
    a.wait(lambda p: p.js("return window.clob.state.market.symbol") == "ETH-USD" and
           p.js("return window.clob.state.book.ready"), "the ETH-USD book")
    assert a.book_rows("buy") == [] and a.book_rows("sell") == [] and a.trades() == []
    assert a.by_id("market-rule").text == "0.01 / 0.001"
    assert a.js("return location.hash") == "#ETH-USD"
    # ETH-USD has tick 10 atoms per lot of 0.001 ETH: $0.01 per ETH; 0.0005 ETH is off lot.
    before = a.place("buy", "3000.00", "0.0005")
    a.wait(lambda p: "QTY_OFF_LOT" in p.by_id("form-error").text and "0.001 ETH" in p.by_id("form-error").text,
           "the ETH-USD lot rule")
    assert a.submitted() == before
    Select(a.by_id("market-select")).select_by_visible_text("BTC-USD")
    rest = node.book()
    a.wait(lambda p: [[int(r["price"]), int(r["qty"])] for r in p.book_rows("buy")] == rest["bids"]
           and len(p.trades()) == 2, "the BTC-USD book and tape again")


def test_09_api_errors_show_their_code(pages, node):
    a = pages("A")
    acct = a.account()
    # 100 BTC at $65,000 is more than the demo account's $1,000,000: the node's door refuses it.
    before = a.place("buy", "65000.00", "100")
    a.wait(lambda p: p.submitted() > before and "INSUFFICIENT_FUNDS" in p.by_id("form-error").text,
           "the node's INSUFFICIENT_FUNDS in the form")
    assert "INSUFFICIENT_FUNDS" in a.messages().split("\n")[0]
    # The browser itself reports the 422 response in the console; nothing else may be there.
    assert a.console_errors(expected=["/v1/transactions", "422"]) == []
    assert [(o["price"], o["qty_remaining"]) for o in node.json(f"/v1/accounts/{acct}/orders")] == [(6495000, 500000)]


def test_10_post_only_and_good_till_block(pages, node):
    a = pages("A")
    acct = a.account()
    # A post-only buy above the best ask would take: the book refuses it (in the receipt).
    before = a.place("buy", "65100.00", "0.0010", order_type="post_only")
    a.wait(lambda p: p.submitted() > before and "POST_ONLY_WOULD_TAKE" in p.by_id("form-error").text,
           "POST_ONLY_WOULD_TAKE in the form")
    # A post-only, good-till-block buy rests, then expires after its last block.
    last = node.json("/v1/health")["height"] + 5  # an idle dev chain cuts an empty block a second
    before = a.place("buy", "64000.00", "0.0010", order_type="post_only", gtb=last)
    a.wait_submitted(before, "the good-till-block order")
    placed = [o for o in node.json(f"/v1/accounts/{acct}/orders") if o["price"] == 6400000]
    assert len(placed) == 1, placed
    order_id = placed[0]["order_id"]
    a.wait(lambda p: any(o["orderId"] == order_id for o in p.open_orders()), "the GTB order in open orders")
    a.wait(lambda p: node.json("/v1/health")["height"] > last, "the order's last block to pass", timeout=20)
    a.wait(lambda p: all(o["orderId"] != order_id for o in p.open_orders()), "the expired order to leave open orders")
    a.wait(lambda p: all(r["price"] != "6400000" for r in p.book_rows("buy")), "the expired order to leave the book")
    assert node.json(f"/v1/orders/{order_id}")["status"] == "expired"


def test_11_load_more_follows_next(pages, node):
    """With one entry a page, the older trade and fill come only through "load more"."""
    a = pages("A")
    acct = a.account()
    trades = [str(t["seq"]) for t in node.json(f"/v1/markets/{BTC}/trades")["trades"]]
    fills = [(str(f["market"]), str(f["seq"])) for f in node.json(f"/v1/accounts/{acct}/fills")["fills"]]
    assert len(trades) == 2 and len(fills) == 2, (trades, fills)
    # The whole (short) history is loaded: nothing more to load.
    a.wait(lambda p: [t["seq"] for t in p.trades()] == trades and len(p.fills()) == 2, "the tape and the fills")
    assert not a.by_id("trades-more").is_displayed() and not a.by_id("fills-more").is_displayed()

    a.js("window.clob.state.pageSize = 1")
    Select(a.by_id("market-select")).select_by_visible_text("ETH-USD")
    a.wait(lambda p: p.js("return window.clob.state.market.symbol") == "ETH-USD", "ETH-USD")
    Select(a.by_id("market-select")).select_by_visible_text("BTC-USD")  # loads the tape again, one trade a page
    a.js("window.clob.setKey(window.clob.state.key)")  # loads the fills again, one a page
    a.wait(lambda p: [t["seq"] for t in p.trades()] == trades[:1] and p.by_id("trades-more").is_displayed(),
           "the newest trade only, and a load-more button")
    a.wait(lambda p: len(p.fills()) == 1 and p.by_id("fills-more").is_displayed(),
           "the newest fill only, and a load-more button")
    a.screenshot("11-a-load-more")

    a.click("#trades-more")
    a.wait(lambda p: [t["seq"] for t in p.trades()] == trades and not p.by_id("trades-more").is_displayed(),
           "both trades, and no button once `next` is absent")
    a.click("#fills-more")
    a.wait(lambda p: [(f["market"], f["seq"]) for f in p.fills()] == fills
           and not p.by_id("fills-more").is_displayed(), "both fills, and no button once `next` is absent")
    a.js("window.clob.state.pageSize = 100")
