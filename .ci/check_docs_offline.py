"""The built documentation renders with the network off, in a real browser.

Opens every page of the built site from disk in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by selenium) with the network
emulated offline and every host name unresolvable, and asserts that

* the browser really is offline (a fetch from a CDN fails);
* every formula was typeset by MathJax: each ``.math`` element holds MathJax
  output, no MathJax error, and no raw TeX such as ``\\(`` is left on the page;
* every image of the site's own loaded (remote ones, such as a Colab badge,
  cannot offline), and the notebook pages show their result plots.

Usage: ``python .ci/check_docs_offline.py docs/_build/html``.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Pages that must show plots (the committed runs' figures).
PAGES_WITH_PLOTS = ("_generated/notebooks/quickstart.html",
                    "_generated/notebooks/lifelong_rl.html")

_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('.math')) { done('no math'); return; }
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'),
                                 (e) => done('error: ' + e));
  } else if (Date.now() - start > 20000) {
    done('MathJax never loaded');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

_MATH_REPORT = """
const maths = Array.from(document.querySelectorAll('.math'));
const raw = maths.filter(m => !m.querySelector('mjx-container'))
                 .map(m => m.textContent.slice(0, 60));
const errors = document.querySelectorAll('mjx-merror').length;
// Remote images (a Colab badge) cannot load offline; the page's own must.
const images = Array.from(document.images).filter(i => !/^https?:/.test(i.src));
const broken = images.filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => i.getAttribute('src').slice(0, 80));
const text = document.body.innerText;
return {maths: maths.length, raw: raw, errors: errors, images: images.length,
        broken: broken, tex_left: text.includes('\\\\(') || text.includes('\\\\[')};
"""

_FETCH_CDN = """
const done = arguments[arguments.length - 1];
fetch('https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js')
  .then(() => done('reached'), () => done('offline'));
"""


def _browser(profile: str) -> webdriver.Chrome:
  options = webdriver.ChromeOptions()
  options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}",
               # No name resolves: nothing outside the files can load.
               "--host-resolver-rules=MAP * ~NOTFOUND",
               "--allow-file-access-from-files"):
    options.add_argument(flag)
  driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
  driver = webdriver.Chrome(options=options, service=Service(driver_path))
  driver.execute_cdp_cmd("Network.enable", {})
  driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
      "offline": True, "latency": 0, "downloadThroughput": -1,
      "uploadThroughput": -1})
  driver.set_script_timeout(60)
  return driver


def check(site: pathlib.Path) -> list[str]:
  """Returns the problems found on the pages of ``site``."""
  pages = sorted(p for p in site.rglob("*.html")
                 if "_modules" not in p.parts and p.name not in (
                     "search.html", "genindex.html", "py-modindex.html"))
  problems = []
  with tempfile.TemporaryDirectory() as profile:
    driver = _browser(profile)
    try:
      driver.get((site / "index.html").as_uri())
      if driver.execute_async_script(_FETCH_CDN) != "offline":
        return ["the browser reached the network; the check would prove nothing"]
      total_maths = total_images = 0
      for page in pages:
        name = page.relative_to(site).as_posix()
        driver.get(page.as_uri())
        status = driver.execute_async_script(_WAIT_FOR_MATHJAX)
        report = driver.execute_script(_MATH_REPORT)
        total_maths += report["maths"]
        total_images += report["images"]
        if status not in ("typeset", "no math"):
          problems.append(f"{name}: {status}")
        if report["raw"] or report["errors"] or report["tex_left"]:
          problems.append(f"{name}: formulas not rendered: {report['raw'][:3]}, "
                          f"{report['errors']} MathJax errors")
        if report["broken"]:
          problems.append(f"{name}: images not loaded: {report['broken']}")
        if name in PAGES_WITH_PLOTS and report["images"] == 0:
          problems.append(f"{name}: no plots")
        print(f"{name}: {report['maths']} formulas, {report['images']} images")
      if total_maths == 0:
        problems.append("no formula on any page: is MathJax wired at all?")
      print(f"{len(pages)} pages, {total_maths} formulas, {total_images} images,"
            " offline")
    finally:
      driver.quit()
  return problems


def main() -> None:
  site = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
  problems = check(site.resolve())
  if problems:
    sys.exit("documentation offline check failed:\n  " + "\n  ".join(problems))
  print("documentation renders offline: formulas typeset, images loaded")


if __name__ == "__main__":
  main()
