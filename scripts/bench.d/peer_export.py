#!/usr/bin/env python3
"""The Python peer of the export benchmark: exports a tenant's MDE alerts with evidence to one gzip NDJSON file,
written the way Microsoft's Python samples for the Defender for Endpoint API are (urllib.request, json, gzip; the
standard library only): a client-credentials token from Entra ID, then `GET /api/alerts?$expand=evidence` paged
with `$top` / `$skip` until a short page.

Each line has mde-bridge's envelope (functions/incident-export/src/encode.rs):
`{"tenant_id", "dataset": "mde_alerts", "exported_at", "dedupe_key", "record"}`, plus `flags` when the record lacks
an id or a last-update time. `dedupe_key` is `<id>:<lastUpdateTime>` with the time in UTC and seven fractional
digits.

Plain `$skip` paging is only correct over a set that does not change while it is read: `scripts/bench` runs this
against a quiet sandbox world. The client secret is read from the environment variable PEER_CLIENT_SECRET.
Prints a JSON summary (records, pages, api_calls, token_requests) on stdout.
"""

import argparse
import datetime
import gzip
import hashlib
import json
import os
import re
import sys
import urllib.parse
import urllib.request

DATASET = "mde_alerts"

# RFC 3339, with any number of fractional digits (the APIs write up to seven; Python's datetime keeps six).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)


def get_token(token_url, client_id, client_secret, resource=None, scope=None):
    """An access token by the client-credentials grant (v1 endpoint: `resource`; v2: `scope`)."""
    body = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if resource:
        body["resource"] = resource
    if scope:
        body["scope"] = scope
    data = urllib.parse.urlencode(body).encode("utf-8")
    req = urllib.request.Request(token_url, data)
    with urllib.request.urlopen(req) as response:
        json_response = json.loads(response.read())
    return json_response["access_token"]


def alert_pages(api_url, token, page_size):
    """Yields the pages of `GET /api/alerts?$expand=evidence`, `$skip` after `$skip`, until a short page."""
    skip = 0
    while True:
        url = f"{api_url}/api/alerts?$expand=evidence&$top={page_size}&$skip={skip}"
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": "Bearer " + token,
        }
        req = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(req) as response:
            alerts = json.loads(response.read())["value"]
        yield alerts
        if len(alerts) < page_size:
            return
        skip += page_size


def format_time(t):
    """UTC, seven fractional digits, `Z` (mde-bridge's format); `t` is an aware datetime."""
    t = t.astimezone(datetime.timezone.utc)
    return (
        f"{t.year:04}-{t.month:02}-{t.day:02}T{t.hour:02}:{t.minute:02}:{t.second:02}"
        f".{t.microsecond:06}0Z"
    )


def normalise_time(text):
    """An RFC 3339 time as mde-bridge writes it in dedupe keys, keeping the 100 ns digit; None if not a time."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    fraction = (m.group(7) or "")[:7].ljust(7, "0")
    try:
        t = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
        if m.group(8):
            offset = datetime.timedelta(hours=int(m.group(9)), minutes=int(m.group(10)))
            t = t - offset if m.group(8) == "+" else t + offset
    except (ValueError, OverflowError):
        return None
    return f"{t.year:04}-{t.month:02}-{t.day:02}T{t.hour:02}:{t.minute:02}:{t.second:02}.{fraction}Z"


def dedupe_key(alert):
    """`<id>:<lastUpdateTime>` and the flags; a missing part is `sha256-<hex>` of the record's JSON."""
    flags = []
    alert_id = alert.get("id")
    last_update = normalise_time(alert.get("lastUpdateTime"))

    def content():
        text = json.dumps(alert, separators=(",", ":"), ensure_ascii=False)
        return "sha256-" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    if not isinstance(alert_id, str) or not alert_id:
        flags.append("missing_id")
        alert_id = content()
    if last_update is None:
        flags.append("missing_last_update")
        last_update = content()
    return f"{alert_id}:{last_update}", flags


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", required=True, help="the MDE API's base URL")
    parser.add_argument("--tenant", required=True, help="the tenant id (GUID)")
    parser.add_argument("--token-url", required=True, help="Entra ID's token endpoint for the tenant")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--resource", help="the token's resource (v1 endpoint)")
    parser.add_argument("--scope", help="the token's scope (v2 endpoint)")
    parser.add_argument("--page-size", type=int, default=10000, help="$top (at most 10,000)")
    parser.add_argument("--level", type=int, default=6, help="gzip level")
    parser.add_argument("--out", required=True, help="the gzip NDJSON file to write")
    args = parser.parse_args()
    client_secret = os.environ.get("PEER_CLIENT_SECRET")
    if not client_secret:
        sys.exit("PEER_CLIENT_SECRET is not set")

    token = get_token(args.token_url, args.client_id, client_secret, args.resource, args.scope)
    exported_at = format_time(datetime.datetime.now(datetime.timezone.utc))
    records = pages = flagged = 0
    with gzip.open(args.out, "wt", compresslevel=args.level, encoding="utf-8") as out:
        for alerts in alert_pages(args.api_url.rstrip("/"), token, args.page_size):
            pages += 1
            for alert in alerts:
                key, flags = dedupe_key(alert)
                line = {
                    "tenant_id": args.tenant,
                    "dataset": DATASET,
                    "exported_at": exported_at,
                    "dedupe_key": key,
                }
                if flags:
                    line["flags"] = flags
                    flagged += 1
                line["record"] = alert
                out.write(json.dumps(line) + "\n")
                records += 1
    summary = {"records": records, "pages": pages, "api_calls": pages, "token_requests": 1, "flagged": flagged}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
