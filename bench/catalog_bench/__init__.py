"""The catalog render benchmark's parts; `bench/catalog_render.py` is its entry point.

    dataset     the generated 1,000-environment catalog (deterministic from a seed)
    seed        filling a running hub with it through the hub's own publish code
    browser     the pages measured in headless Chromium, and how
    serverside  the same API calls without the browser, and the database's share
    stats       percentiles over repeated loads
    report      the summary, Verdict rows and section 4 of docs/benchmarks.md

The knobs below are shared by those modules.
"""

GOAL_MS = 1000.0
PER_PAGE = 50          # the catalog's page size (frontend/src/lib/catalogQuery.ts PER_PAGE)
HOME_PER_LIST = 6      # "Popular" and "Recently updated" on the home page
SEARCH_WORD = "chess"  # no other word of the generated text contains it
SEARCH_SHARE = 10      # every 10th environment mentions SEARCH_WORD
ROW = '[data-testid="env-row"]'
VIEWPORT = {"width": 1280, "height": 800}
