#!/usr/bin/env python3
"""Drives the dashboard in a real headless Chromium for tests/http_dashboard.rs.

One JSON command per line on stdin, one JSON answer per line on stdout (the
test decides what happens to the daemon in between, and asserts on the
answers). Progress and Playwright's own noise go to stderr.

Commands (`op`):
  open        {"url"}                 load the page; wait until it shows runtimes
  dom         {}                      what the page shows now (see `DOM_JS`)
  eval        {"js"}                  the value of a JS function in the page
  wait        {"js", "timeout_ms"}    poll a JS predicate in the page
  axe         {"scheme"}              axe-core with that colour scheme: violations
  keyboard    {"presses"}             press Tab that often: what took focus
  screenshot  {"path", "scheme"}      full-page PNG
  quit        {}

Environment: ARW_TEST_CHROMIUM (default /usr/bin/chromium), ARW_TEST_AXE_JS.
Playwright never downloads a browser here: it is pointed at the system one.
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

# What the page shows, read from its DOM the way a person reads it: text.
DOM_JS = r"""() => {
  const q = (s) => document.querySelector(s);
  const txt = (n) => (n ? n.textContent.replace(/\s+/g, ' ').trim() : null);
  const rows = Array.from(document.querySelectorAll('#runtimes tbody tr[data-runtime]')).map((tr) => {
    const cell = (c) => txt(tr.querySelector(`[data-col="${c}"]`));
    return { id: tr.dataset.runtime, state: tr.dataset.state, id_text: cell('id'), name: cell('name'),
             state_text: cell('state'), accelerator: cell('accelerator'), endpoint: cell('endpoint'),
             pid: cell('pid'), restarts: cell('restarts'), last_exit: cell('last_exit') };
  });
  return {
    title: document.title,
    conn: txt(q('#conn')), conn_state: q('#conn').dataset.state || null, last_id: q('#conn').dataset.lastId || null,
    severity: txt(q('[data-field="severity"]')), label: txt(q('[data-field="label"]')),
    facts: txt(q('[data-field="facts"]')), code: (q('.node') || {dataset: {}}).dataset.code || null,
    freshness: txt(q('#freshness')), stale: q('#freshness').dataset.stale || null,
    announce: txt(q('#announce')),
    accelerators: Array.from(document.querySelectorAll('#accelerators tbody tr')).map(txt),
    http: txt(q('#http')),
    log: Array.from(document.querySelectorAll('#log li')).map(txt),
    runtimes: rows,
  };
}"""


def out(doc):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main():
    chromium = os.environ.get("ARW_TEST_CHROMIUM", "/usr/bin/chromium")
    axe_js = os.environ.get("ARW_TEST_AXE_JS")
    with sync_playwright() as p:
        t0 = time.monotonic()
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], timeout=120_000)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page = context.new_page()
        # A CSP refusal or a script error shows up here; the test wants none.
        problems = []
        page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        out({"ok": True, "op": "launch", "ms": round((time.monotonic() - t0) * 1000)})

        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            op = cmd.get("op")
            t = time.monotonic()
            try:
                if op == "open":
                    page.goto(cmd["url"], wait_until="load", timeout=60_000)
                    page.wait_for_function(
                        "() => document.querySelectorAll('#runtimes tbody tr[data-runtime]').length > 0",
                        timeout=cmd.get("timeout_ms", 30_000), polling=50)
                    ans = {"ok": True}
                elif op == "dom":
                    ans = {"ok": True, "dom": page.evaluate(DOM_JS), "problems": problems, "requests": requests}
                elif op == "eval":
                    ans = {"ok": True, "value": page.evaluate(cmd["js"])}
                elif op == "wait":
                    page.wait_for_function(cmd["js"], timeout=cmd.get("timeout_ms", 10_000), polling=25)
                    ans = {"ok": True}
                elif op == "axe":
                    page.emulate_media(color_scheme=cmd.get("scheme", "light"))
                    if not page.evaluate("() => typeof window.axe === 'object'"):
                        page.add_script_tag(path=axe_js)
                    res = page.evaluate(
                        "async () => { const r = await axe.run(document, {runOnly: ['wcag2a','wcag2aa','best-practice']});"
                        " return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                        " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)})),"
                        " passes: r.passes.length, version: axe.version,"
                        " dark: matchMedia('(prefers-color-scheme: dark)').matches,"
                        " bg: getComputedStyle(document.documentElement).backgroundColor}; }")
                    ans = {"ok": True, **res}
                elif op == "keyboard":
                    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
                    focused = []
                    for _ in range(cmd.get("presses", 10)):
                        page.keyboard.press("Tab")
                        focused.append(page.evaluate(
                            "() => { const e = document.activeElement; const v = getComputedStyle(e);"
                            " return {tag: e.tagName.toLowerCase(), id: e.id || null,"
                            " label: e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent.trim().slice(0, 40),"
                            " outline: v.outlineStyle + ' ' + v.outlineWidth}; }"))
                    ans = {"ok": True, "focused": focused}
                elif op == "screenshot":
                    page.emulate_media(color_scheme=cmd.get("scheme", "light"))
                    page.screenshot(path=cmd["path"], full_page=True)
                    ans = {"ok": True}
                elif op == "quit":
                    out({"ok": True})
                    break
                else:
                    ans = {"ok": False, "error": f"unknown op {op!r}"}
            except Exception as e:  # the test shows it; the driver keeps going
                ans = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            ans["op"] = op
            ans["ms"] = round((time.monotonic() - t) * 1000)
            out(ans)
        browser.close()


if __name__ == "__main__":
    main()
