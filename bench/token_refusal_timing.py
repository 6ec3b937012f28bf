"""Refusing a token: an unknown selector must cost what a known selector with a wrong secret costs.

Run: .venv/bin/python bench/token_refusal_timing.py [--samples 5000]
Prints both medians and their ratio (1.00 means equal time; the selectors'
existence should not be readable from it).
"""
import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from registry import create_app  # noqa: E402
from registry.domain import auth  # noqa: E402
from registry.domain.errors import RegistryError  # noqa: E402


def _refusal_seconds(header):
    started = time.perf_counter()
    try:
        auth.authenticate(header)
    except RegistryError:
        pass
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    data_dir = tempfile.mkdtemp(prefix="bench-token-")
    app = create_app({"DATA_DIR": data_dir})
    with open(os.path.join(data_dir, "admin.token")) as f:
        selector = f.read().strip().split("_")[1]
    known = f"Bearer rgt_{selector}_{'A' * 43}"
    unknown = f"Bearer rgt_{'0' * 16}_{'A' * 43}"
    with app.app_context():
        for _ in range(500):  # warm up both paths
            _refusal_seconds(known)
            _refusal_seconds(unknown)
        known_times, unknown_times = [], []
        for _ in range(args.samples):  # interleaved, so drift hits both alike
            known_times.append(_refusal_seconds(known))
            unknown_times.append(_refusal_seconds(unknown))
    a, b = statistics.median(known_times), statistics.median(unknown_times)
    print(f"known selector, wrong secret: {a * 1e6:.1f} us (median of {args.samples})")
    print(f"unknown selector:             {b * 1e6:.1f} us")
    print(f"ratio unknown/known: {b / a:.2f}")


if __name__ == "__main__":
    main()
