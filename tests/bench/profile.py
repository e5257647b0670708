#!/usr/bin/python3
"""Sums a chrome://tracing profile (lorascape bench scan --profile FILE) by operator.

Prints, per ATen operator, its self time (time not spent in the operators it called) and
share of the total, largest first: where a forward pass spends its time.

  /usr/bin/python3 tests/bench/profile.py FILE [--top 15]
"""
import argparse
import collections
import json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    with open(a.trace) as f:
        events = [e for e in json.load(f) if e.get("ph") == "X"]
    self_us = collections.Counter()
    calls = collections.Counter()
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, time of its children]
        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                done, kids = stack.pop()
                self_us[done["name"]] += done["dur"] - kids
            if stack:
                stack[-1][1] += e["dur"]
            stack.append([e, 0.0])
            calls[e["name"]] += 1
        while stack:
            done, kids = stack.pop()
            self_us[done["name"]] += done["dur"] - kids
    total = sum(self_us.values())
    print(f"{'operator':32} {'self ms':>10} {'share':>7} {'calls':>8}")
    for name, us in self_us.most_common(a.top):
        print(f"{name:32} {us / 1000:10.1f} {100 * us / total:6.1f}% {calls[name]:8d}")
    print(f"{'total':32} {total / 1000:10.1f}")


if __name__ == "__main__":
    main()
