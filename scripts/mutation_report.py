"""Score per module from mutmut's results (mutants/**/*.meta), with the listed equivalent mutants.

Exit 1 if a mutant survived that tests/mutation_equivalents.txt does not
explain, or if a module's score is under MINIMUM_SCORE. Killed and timed-out
mutants count as caught; equivalent mutants are left out of the total.
"""
import glob
import json
import os
import sys

from mutmut.stats import status_by_exit_code

MINIMUM_SCORE = 0.90
ROOT = os.path.join(os.path.dirname(__file__), "..")
EQUIVALENTS = os.path.join(ROOT, "tests", "mutation_equivalents.txt")
CAUGHT = {"killed", "timeout", "caught by type check"}


def equivalents():
    """{mutant name: reason} from the equivalents file (``name  reason`` per line, # comments)."""
    listed = {}
    with open(EQUIVALENTS) as f:
        for line in f:
            line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
            if line:
                name, _, reason = line.partition(" ")
                listed[name] = reason.strip()
    return listed


def main():
    listed = equivalents()
    failed, unexplained = False, []
    print(f"{'module':<28} {'mutants':>7} {'caught':>6} {'equiv.':>6} {'survived':>8} {'score':>6}")
    for meta in sorted(glob.glob(os.path.join(ROOT, "mutants", "registry", "**", "*.meta"), recursive=True)):
        module = os.path.relpath(meta, os.path.join(ROOT, "mutants"))[: -len(".meta")]
        with open(meta) as f:
            results = json.load(f)["exit_code_by_key"]
        caught = equivalent = 0
        for name, code in sorted(results.items()):
            status = status_by_exit_code[code]
            if status in CAUGHT:
                caught += 1
            elif name in listed:
                equivalent += 1
            else:
                unexplained.append(f"{name}: {status}")
        total = len(results) - equivalent
        score = caught / total if total else 1.0
        failed |= score < MINIMUM_SCORE
        print(f"{module:<28} {len(results):>7} {caught:>6} {equivalent:>6} {total - caught:>8} {score:>6.1%}")
    if unexplained:
        print(f"\n{len(unexplained)} mutants survived and are not listed in tests/mutation_equivalents.txt:")
        print("\n".join(f"  {line}" for line in unexplained))
        print("Kill each with a test (`.venv/bin/mutmut show NAME` shows it), or list it there with the reason.")
    sys.exit(1 if failed or unexplained else 0)


if __name__ == "__main__":
    main()
