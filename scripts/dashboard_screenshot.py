"""Screenshot optuna-dashboard over a search's Optuna study, as a person sees it.

Starts ``tune-gae dashboard SEARCH`` on a free localhost port and a headless Chromium (Debian's
``chromium`` package), opens the study's page (``--page analytics``: its Analytics tab) and saves
a PNG, quantised to stay small for the README. Shares the browser driving with
``hparams_screenshot.py``.

    python scripts/dashboard_screenshot.py results/cora-default-... docs/img/dashboard.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hparams_screenshot import save, shoot, wait_for

PAGES = {"study": "", "analytics": "/analytics"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path, help="a search folder (made by `tune-gae search`)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--page", choices=sorted(PAGES), default="study")
    parser.add_argument("--size", default="1400x1230", help="browser window WIDTHxHEIGHT")
    args = parser.parse_args()

    def page(base: str) -> tuple[str, None]:
        studies = wait_for(f"{base}/api/studies", lambda body: body.get("study_summaries"))["study_summaries"]
        return f"{base}/dashboard/studies/{studies[0]['study_id']}{PAGES[args.page]}", None

    save(shoot("dashboard", args.search, args.size, page), args.out, f"{args.page}, {args.size}")


if __name__ == "__main__":
    main()
