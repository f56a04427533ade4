#!/usr/bin/env python3
"""Validates a JSON-lines file of OpenLineage run events against the official schemas.

Usage: validate.py SPEC_DIR FILE.jsonl [--allow-unpaired]

SPEC_DIR is what fetch_spec.sh made. Each non-blank line is one event, checked by
olschema.validate_event (core RunEvent schema and every facet's own schema). A line
`{"invalid": true, "errors": [...]}` (what receiver.py writes for an event it answered
400) counts as an invalid event.

Then the runs are paired, in file order: a runId with a START has exactly one terminal
event (COMPLETE or FAIL; ABORT too, which the spec counts as terminal) after it, and no
terminal event comes without a START before it. --allow-unpaired skips this check.

Prints "N events valid" and exits 0; otherwise prints each invalid line's number with
its errors (never the event itself) and each pairing violation, and exits 1.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olschema  # noqa: E402

TERMINAL = ("COMPLETE", "FAIL", "ABORT")


def pairing_errors(runs):
    """runs: runId -> [(line number, eventType)] in file order."""
    errors = []
    for run_id, events in runs.items():
        starts = [n for n, t in events if t == "START"]
        terminals = [(n, t) for n, t in events if t in TERMINAL]
        if not starts:
            for n, t in terminals:
                errors.append("run %s: %s on line %d without a START" % (run_id, t, n))
            continue
        if len(starts) > 1:
            errors.append("run %s: %d STARTs (lines %s)" % (run_id, len(starts), ", ".join(map(str, starts))))
        first = starts[0]
        for n, t in terminals:
            if n < first:
                errors.append("run %s: %s on line %d before its START on line %d" % (run_id, t, n, first))
        after = [(n, t) for n, t in terminals if n > first]
        if not after:
            errors.append("run %s: START on line %d has no COMPLETE or FAIL after it" % (run_id, first))
        elif len(after) > 1:
            errors.append(
                "run %s: %d terminal events after its START (%s)"
                % (run_id, len(after), ", ".join("%s on line %d" % (t, n) for n, t in after))
            )
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("spec_dir")
    parser.add_argument("events")
    parser.add_argument("--allow-unpaired", action="store_true", help="skip the START/COMPLETE pairing check")
    args = parser.parse_args()

    registry = olschema.load_registry(args.spec_dir)
    count = 0
    invalid = 0
    runs = {}
    with open(args.events, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            count += 1
            try:
                event = json.loads(line)
            except ValueError as e:
                errors = ["not JSON: %s" % e]
            else:
                if isinstance(event, dict) and event.get("invalid") is True:
                    errors = ["the receiver rejected this event: %s" % e for e in event.get("errors") or ["(no errors given)"]]
                else:
                    errors = olschema.validate_event(event, registry)
                    run = event.get("run") if isinstance(event, dict) else None
                    run_id = run.get("runId") if isinstance(run, dict) else None
                    if isinstance(run_id, str):
                        runs.setdefault(run_id, []).append((number, event.get("eventType")))
            if errors:
                invalid += 1
                print("line %d: %d error(s)" % (number, len(errors)))
                for error in errors:
                    print("  " + error)

    unpaired = [] if args.allow_unpaired else pairing_errors(runs)
    for error in unpaired:
        print(error)
    if invalid or unpaired:
        print(
            "%d of %d events invalid, %d pairing violation(s)" % (invalid, count, len(unpaired)),
        )
        return 1
    print("%d events valid" % count)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print("validate.py: %s" % e, file=sys.stderr)
        sys.exit(2)
