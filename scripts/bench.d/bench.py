#!/usr/bin/env python3
"""The export benchmark of `scripts/bench` (issue 19), after the build: mde-bridge against a Python peer on the
same sandbox world, their outputs compared record for record, the gzip floors, the API time, and the rate-limit
ceiling run. Progress on stderr, the table on stdout, the figures in `target/bench/export.json`.

Run it through `scripts/bench` (which builds the binaries and passes their directory); sizes come from the
BENCH_* environment variables it documents.
"""

import datetime
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peer_export  # noqa: E402
import report  # noqa: E402

DATASET = "mde_alerts"
# The seeded alerts were created up to 14 days before the sandbox started (shared/sandbox/src/seed.rs); one more
# day of margin. The comparison with the peer (which reads every alert) catches a lookback that falls short.
LOOKBACK_SECONDS = 15 * 24 * 3600
# Microsoft's documented limit of the MDE alerts list: 100 calls per minute and tenant.
CALLS_PER_MINUTE = 100
READ_CHUNK = 1 << 20
# How long after seeding the first export starts (see Sandbox.settle).
SETTLE_SECONDS = 2.0
TOKEN_PATH = re.compile(r"^/[^/]+/oauth2/(v2\.0/)?token$")

CHILDREN = set()


class Broken(Exception):
    """Something broke: the run cannot give figures (the script exits non-zero)."""


def say(msg):
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def warn(msg):
    print(f"\033[1;33m!!! {msg}\033[0m", file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise Broken(f"{name}={value!r} is not a whole number") from None
    if number < 0:
        raise Broken(f"{name}={value!r} must not be negative")
    return number


def tail(path, head=15, last=25):
    """A child's stderr for an error message: all of it when short, else its first and last lines (an error's
    message comes first, a backtrace after it)."""
    try:
        lines = Path(path).read_text(errors="replace").rstrip("\n").splitlines()
    except OSError:
        return "(no output)"
    if not lines:
        return "(empty)"
    if len(lines) <= head + last:
        return "\n".join(lines)
    return "\n".join(lines[:head] + [f"[... {len(lines) - head - last} lines ...]"] + lines[-last:])


def rust_const(source, name):
    """The value of `pub const NAME: &str = "...";` in a Rust source file."""
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', Path(source).read_text())
    if not m:
        raise Broken(f"{name} not found in {source}: the sandbox's demo constants moved")
    return m.group(1)


def fmt_int(n):
    return f"{n:,}"


def fmt_s(seconds):
    return f"{seconds:,.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


class Stages:
    """How long each stage took."""

    def __init__(self):
        self.items = []

    def time(self, name):
        stages = self

        class Timer:
            def __enter__(self):
                self.started = time.perf_counter()
                say(name)

            def __exit__(self, *exc):
                took = time.perf_counter() - self.started
                stages.items.append((name, took))
                if exc[0] is None:
                    say(f"{name}: {took:.1f} s")

        return Timer()


# --- children -----------------------------------------------------------------------------------------------


def kill_children():
    for proc in list(CHILDREN):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        CHILDREN.discard(proc)


def load_average():
    """The 1-minute load average (other builds on the machine show here)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def cpu_seconds_of(pid):
    """User + system CPU seconds of a running process (from /proc/PID/stat, clock ticks)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    def __init__(self, wall, cpu, peak_rss_mib, stdout):
        self.wall = wall
        self.cpu = cpu
        self.peak_rss_mib = peak_rss_mib
        self.stdout = stdout


def run_measured(name, argv, cwd, logs, env=None):
    """Runs a child to its end, measured with wait4: wall time, user + system CPU, peak RSS. A failure raises
    Broken with the tail of its stderr."""
    out_path, err_path = logs / f"{name}.stdout", logs / f"{name}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        CHILDREN.add(proc)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        CHILDREN.discard(proc)
    if proc.returncode != 0:
        raise Broken(
            f"{name} failed (exit status {proc.returncode}): {' '.join(map(str, argv))}\n"
            f"last lines of its stderr ({err_path}):\n{tail(err_path)}"
        )
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out_path.read_text())


class Sandbox:
    """The Defender emulator as a child process."""

    def __init__(self, exe, config, workdir, name):
        self.log = workdir / f"{name}.stderr"
        config_path = workdir / f"{name}.json"
        config_path.write_text(json.dumps(config, indent=2))
        env = dict(os.environ, RUST_LOG=os.environ.get("BENCH_SANDBOX_LOG", "warn"))
        started = time.perf_counter()
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(exe), "--config", str(config_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
            )
        CHILDREN.add(self.proc)
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("listening on "):
            self.stop()
            raise Broken(f"the sandbox did not start (first line {line!r}); its stderr:\n{tail(self.log)}")
        self.url = line.removeprefix("listening on ").rstrip("/")
        self.seeded_in = time.perf_counter() - started
        self.ready_at = time.monotonic()

    def settle(self):
        """Waits until the newest seeded update is more than a second old. Seeding clamps the newest alerts'
        lastUpdateTime to its own start, and mde-bridge reads up to the service's time from the `Date` header,
        which has whole seconds: an export started within that second would leave them to its next run."""
        left = SETTLE_SECONDS - (time.monotonic() - self.ready_at)
        if left > 0:
            time.sleep(left)

    def request(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                return response.read()
        except OSError as e:
            raise Broken(f"sandbox {method} {path} failed: {e}; its stderr:\n{tail(self.log)}") from None

    def requests(self):
        """The request log since the last clear; refuses one the sandbox has trimmed (it keeps 100,000)."""
        records = json.loads(self.request("GET", "/_sandbox/requests"))["value"]
        if records and records[0].get("seq") != 1:
            raise Broken(f"the sandbox's request log dropped its first {records[0].get('seq', 0) - 1} records: "
                         "the counts would be wrong (use a larger page size)")
        return records

    def clear_requests(self):
        self.request("DELETE", "/_sandbox/requests")

    def cpu_seconds(self):
        return cpu_seconds_of(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        CHILDREN.discard(self.proc)


def sandbox_config(exe, tenant, alerts, rate_limits):
    """One tenant (from the schema's defaults: its granted roles), `alerts` alerts, a quiet world (no updates or new
    alerts, no adversarial changes, no faults), Microsoft's limits on or off."""
    schema = json.loads(subprocess.run([str(exe), "--print-schema"], check=True, capture_output=True).stdout)
    defaults = schema.get("properties", {}).get("tenants", {}).get("default", [])
    tenants = [t for t in defaults if str(t.get("id", "")).lower() == tenant.lower()]
    if not tenants:
        raise Broken(f"tenant {tenant} is not among the sandbox's default tenants (mde-sandbox --print-schema)")
    return {
        "listen": "127.0.0.1:0",
        "tenants": tenants,
        "data": {"alerts_per_tenant": alerts, "alert_updates_per_hour": 0, "new_alerts_per_hour": 0},
        "rate_limits": {"enabled": rate_limits, "overrides": [], "time_scale": 1},
        "faults": [],
        "adversarial": {"mutate": None, "visibility_lag_seconds": 0, "clock_skew_seconds": 0},
    }


# --- the exporters ------------------------------------------------------------------------------------------


def write_bridge_config(dirpath, base, tenant, client_id, client_secret, page_size):
    dirpath.mkdir(parents=True, exist_ok=True)
    secrets = {"mde-bridge/app-credential": {"kind": "client_secret", "client_id": client_id,
                                             "client_secret": client_secret}}
    (dirpath / "secrets.json").write_text(json.dumps(secrets))
    (dirpath / "bridge.toml").write_text(
        "[partner]\ncompany = \"Contoso\"\nproduct = \"Bench\"\nversion = \"1\"\n\n"
        f"[cloud]\nlogin_url = \"{base}\"\nmde_api_url = \"{base}\"\nm365d_api_url = \"{base}\"\n"
        f"graph_url = \"{base}\"\n\n"
        "[credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n\n"
        "[storage]\nlocal_dir = \"out\"\n\n"
        f"[export]\nsettle_seconds = 0\ninitial_lookback_seconds = {LOOKBACK_SECONDS}\n"
        f"mde_alerts_page_size = {page_size}\ngzip_level = 6\n\n"
        f"[[tenants]]\ntenant_id = \"{tenant}\"\ndisplay_name = \"Contoso\"\ndatasets = [\"{DATASET}\"]\n"
    )


def run_bridge(exe, dirpath, name, logs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDE_BRIDGE_")}
    measured = run_measured(name, [str(exe), "export", "--config", "bridge.toml", "--dataset", DATASET, "--json"],
                            dirpath, logs, env)
    text = measured.stdout
    start = text.find("{")
    try:
        summary = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        summary = None
    if not summary or not summary.get("datasets"):
        raise Broken(f"{name}: no run summary on stdout:\n{text[-2000:]}")
    d = summary["datasets"][0]
    if summary.get("error") or d.get("status") != "completed":
        raise Broken(f"{name}: the export did not complete: status {d.get('status')}, error "
                     f"{d.get('error') or summary.get('error')}; stderr:\n{tail(logs / (name + '.stderr'))}")
    return measured, summary


def bridge_objects(out_dir):
    """mde-bridge's export objects (keys.rs: `<dataset>/tenant=<id>/dt=.../hour=.../<from>_<to>_<digest>.ndjson.gz`)
    in key order, which is the order of their ranges."""
    root = out_dir / DATASET
    return sorted(root.rglob("*.ndjson.gz"), key=lambda p: p.relative_to(out_dir).as_posix())


def save_log(records, logs, name):
    """Keeps a request log in the work dir (kept with BENCH_KEEP=1), for a look at what an exporter asked."""
    (logs / f"requests-{name}.json").write_text(json.dumps(records, indent=1))
    return records


def count_log(records):
    """(API calls, token requests, 429 answers, the API GETs) of a request log."""
    api = [r for r in records if not r["path"].startswith("/_sandbox") and not TOKEN_PATH.match(r["path"])]
    tokens = [r for r in records if TOKEN_PATH.match(r["path"])]
    throttled = sum(1 for r in records if r.get("status") == 429)
    gets = [r for r in api if r["method"] == "GET"]
    return len(api), len(tokens), throttled, gets, tokens


# --- comparison -------------------------------------------------------------------------------------------------


def number(text):
    """A JSON number as parsed for the comparison: `1.0` and `1` are the same number (as Python's == says), so an
    integral float becomes an int before the digest."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_line(raw):
    return json.loads(raw, parse_float=number)


def digest_of(envelope):
    envelope = dict(envelope)
    envelope.pop("exported_at", None)
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def index_lines(paths, side, copy_to=None):
    """dedupe_key → digest of the envelope without exported_at; the keys seen twice; the record count."""
    index, duplicates, count = {}, [], 0
    for path in paths:
        with gzip.open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if copy_to is not None:
                    copy_to.write(raw)
                try:
                    envelope = parse_line(raw)
                except ValueError as e:
                    raise Broken(f"{side}: {path} line {number} is not JSON: {e}") from None
                if "exported_at" not in envelope:
                    raise Broken(f"{side}: {path} line {number} has no exported_at")
                key = envelope.get("dedupe_key")
                count += 1
                if key in index:
                    duplicates.append(key)
                else:
                    index[key] = digest_of(envelope)
    return index, duplicates, count


def find_envelopes(paths, keys):
    found = {}
    for path in paths:
        with gzip.open(path, "rb") as f:
            for raw in f:
                envelope = parse_line(raw)
                if envelope.get("dedupe_key") in keys and envelope["dedupe_key"] not in found:
                    found[envelope["dedupe_key"]] = envelope
    return found


def json_differences(a, b, path="", limit=5):
    """The first JSON paths where a and b differ."""
    if type(a) is not type(b):
        return [f"{path or '/'}: {json.dumps(a)[:120]} ≠ {json.dumps(b)[:120]}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'mde-bridge' if k in a else 'the peer'}")
            elif a[k] != b[k]:
                out += json_differences(a[k], b[k], f"{path}/{k}", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items ≠ {len(b)} items"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                out += json_differences(x, y, f"{path}/{i}", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    return [f"{path or '/'}: {json.dumps(a)[:120]} ≠ {json.dumps(b)[:120]}"] if a != b else []


def compare(bridge_paths, peer_path, ndjson_copy):
    """Checks the two outputs are JSON-equal record for record (except exported_at); writes mde-bridge's decompressed
    NDJSON to `ndjson_copy` on the way. Returns the record count; raises Broken with the first differences."""
    with open(ndjson_copy, "wb") as copy:
        ours, our_dups, our_count = index_lines(bridge_paths, "mde-bridge", copy)
    theirs, their_dups, their_count = index_lines([peer_path], "peer")
    problems = []
    if our_dups:
        problems.append(f"mde-bridge wrote {len(our_dups)} dedupe keys twice, e.g. {our_dups[:3]}")
    if their_dups:
        problems.append(f"the peer wrote {len(their_dups)} dedupe keys twice, e.g. {their_dups[:3]}")
    if our_count != their_count:
        problems.append(f"record counts differ: mde-bridge {our_count:,}, peer {their_count:,}")
    only_ours = [k for k in ours if k not in theirs]
    only_theirs = [k for k in theirs if k not in ours]
    if only_ours:
        problems.append(f"{len(only_ours):,} keys only in mde-bridge's output, e.g. {only_ours[:3]}")
    if only_theirs:
        problems.append(f"{len(only_theirs):,} keys only in the peer's output, e.g. {only_theirs[:3]}")
    differing = [k for k, d in ours.items() if k in theirs and theirs[k] != d]
    if differing:
        problems.append(f"{len(differing):,} records differ")
        sample = set(differing[:3])
        a, b = find_envelopes(bridge_paths, sample), find_envelopes([peer_path], sample)
        for key in differing[:3]:
            x, y = dict(a.get(key, {})), dict(b.get(key, {}))
            x.pop("exported_at", None)
            y.pop("exported_at", None)
            for line in json_differences(x, y):
                problems.append(f"  {key}: {line}")
    if problems:
        raise Broken("the outputs of mde-bridge and the peer are not equal:\n  " + "\n  ".join(problems))
    return our_count


# --- floors and API time ----------------------------------------------------------------------------------------


def c_zlib_floor(path, level):
    """CPU seconds of Python's zlib (C zlib) compressing the file's bytes as one gzip stream, in 1 MiB chunks."""
    data = Path(path).read_bytes()
    view = memoryview(data)
    started = time.process_time()
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    out = 0
    for i in range(0, len(view), READ_CHUNK):
        out += len(compressor.compress(view[i:i + READ_CHUNK]))
    out += len(compressor.flush())
    cpu = time.process_time() - started
    return {"bytes_in": len(data), "bytes_out": out, "cpu_seconds": cpu}


def replay(base, gets, token):
    """Replays the GETs one after another with a fresh token, reading and discarding each body in 1 MiB reads;
    returns (the sum of their latencies, the bytes read)."""
    total, body_bytes = 0.0, 0
    for record in gets:
        url = base + record["path"] + (f"?{record['query']}" if record.get("query") else "")
        headers = {"Authorization": "Bearer " + token, "Accept": record.get("headers", {}).get("accept",
                                                                                              "application/json")}
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=600) as response:
            while chunk := response.read(READ_CHUNK):
                body_bytes += len(chunk)
        total += time.perf_counter() - started
    return total, body_bytes


def token_form(record):
    """The `resource` / `scope` of a logged token request (its secret is redacted in the log)."""
    form = dict(urllib.parse.parse_qsl(record.get("body", "")))
    return form.get("resource"), form.get("scope")


# --- the run ----------------------------------------------------------------------------------------------------


def main():
    repo = Path(os.environ.get("BENCH_REPO") or HERE.parents[1])
    bin_dir = Path(os.environ["BENCH_BIN_DIR"])
    profile = os.environ.get("BENCH_PROFILE") or "release"
    alerts = env_int("BENCH_ALERTS", 100_000)
    page = env_int("BENCH_PAGE_SIZE", 10_000)
    ceiling = env_int("BENCH_CEILING", 1) != 0
    ceiling_alerts = env_int("BENCH_CEILING_ALERTS", 100_000)
    ceiling_page = env_int("BENCH_CEILING_PAGE", 500)
    keep = os.environ.get("BENCH_KEEP") == "1"
    repeats = env_int("BENCH_REPEATS", 3)
    command = os.environ.get("BENCH_COMMAND") or "scripts/bench"
    if not 2 <= page <= 10_000 or not 2 <= ceiling_page <= 10_000:
        raise Broken("BENCH_PAGE_SIZE and BENCH_CEILING_PAGE must be 2 to 10000 (the documented $top maximum)")
    if repeats < 1:
        raise Broken("BENCH_REPEATS must be at least 1")
    if alerts < 1 or (ceiling and ceiling_alerts < 1):
        raise Broken("BENCH_ALERTS and BENCH_CEILING_ALERTS must be at least 1")

    sandbox_exe, bridge_exe, xtask_exe = (bin_dir / n for n in ("mde-sandbox", "mde-bridge", "xtask"))
    for exe in (sandbox_exe, bridge_exe, xtask_exe):
        if not exe.is_file():
            raise Broken(f"{exe} is missing: did the build succeed?")
    constants = repo / "shared" / "sandbox" / "src" / "config.rs"
    tenant = rust_const(constants, "DEMO_TENANT_FULL")
    client_id = rust_const(constants, "DEMO_CLIENT_ID")
    client_secret = rust_const(constants, "DEMO_CLIENT_SECRET")

    bench_dir = repo / "target" / "bench"
    work = bench_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    logs = work / "logs"
    logs.mkdir(parents=True)
    stages = Stages()
    build_seconds = float(os.environ.get("BENCH_BUILD_SECONDS") or 0)
    if build_seconds:
        stages.items.append((f"build ({profile})", build_seconds))

    try:
        with stages.time(f"sandbox: seeding {alerts:,} alerts (rate limits off)"):
            sandbox = Sandbox(sandbox_exe, sandbox_config(sandbox_exe, tenant, alerts, False), work, "sandbox")
        say(f"sandbox at {sandbox.url}: {alerts:,} alerts seeded in {sandbox.seeded_in:.1f} s")

        # The export runs `repeats` times, each a first export into its own directory (timings vary run to run
        # on a shared machine: the table shows medians); the first run's objects and requests are the ones
        # compared and replayed.
        bridge_dir = work / "mde-bridge"
        load_before = load_average()
        runs = []
        with stages.time(f"mde-bridge export ({page:,} per page) × {repeats}"):
            for i in range(repeats):
                name = "mde-bridge" if i == 0 else f"mde-bridge-{i + 1}"
                write_bridge_config(work / name, sandbox.url, tenant, client_id, client_secret, page)
                sandbox.settle()
                sandbox.clear_requests()
                sandbox_cpu = sandbox.cpu_seconds()
                run, run_summary = run_bridge(bridge_exe, work / name, name, logs)
                run.sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
                runs.append((run, run_summary, save_log(sandbox.requests(), logs, name)))
        first, summary, log = runs[0]
        ours = Measured(statistics.median(r.wall for r, _, _ in runs), statistics.median(r.cpu for r, _, _ in runs),
                        max(r.peak_rss_mib for r, _, _ in runs), first.stdout)
        ours.sandbox_cpu = statistics.median(r.sandbox_cpu for r, _, _ in runs)
        ours.runs = [(r.wall, r.cpu) for r, _, _ in runs]
        ours.api_calls, ours.token_requests, ours.throttled, our_gets, our_tokens = count_log(log)
        if not our_tokens:
            raise Broken("mde-bridge made no token request the sandbox saw")
        token_url = sandbox.url + our_tokens[0]["path"]
        resource, scope = token_form(our_tokens[0])

        peer_out = work / "peer" / "alerts.ndjson.gz"
        peer_out.parent.mkdir()
        with stages.time(f"python peer export ({page:,} per page)"):
            sandbox.clear_requests()
            sandbox_cpu = sandbox.cpu_seconds()
            argv = [sys.executable, str(HERE / "peer_export.py"), "--api-url", sandbox.url, "--tenant", tenant,
                    "--token-url", token_url, "--client-id", client_id, "--page-size", str(page), "--level", "6",
                    "--out", str(peer_out)]
            argv += ["--resource", resource] if resource else []
            argv += ["--scope", scope] if scope else []
            peer = run_measured("peer", argv, work / "peer", logs, dict(os.environ, PEER_CLIENT_SECRET=client_secret))
            peer.sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
            peer.api_calls, peer.token_requests, peer.throttled, _, _ = count_log(
                save_log(sandbox.requests(), logs, "peer"))

        load_after = load_average()
        objects = bridge_objects(bridge_dir / "out")
        if not objects:
            raise Broken(f"mde-bridge wrote no export objects under {bridge_dir / 'out' / DATASET}")
        quarantined = list((bridge_dir / "out").glob("quarantine/**/*.json"))
        if quarantined:
            raise Broken(f"mde-bridge quarantined {len(quarantined)} pages (see {bridge_dir / 'out' / 'quarantine'})")
        ndjson = work / "mde-bridge.ndjson"
        with stages.time("comparison: both outputs JSON-equal record for record"):
            records = compare(objects, peer_out, ndjson)
        if records != alerts:
            raise Broken(f"both exporters wrote {records:,} records, but the sandbox holds {alerts:,} alerts")
        if summary["datasets"][0].get("records") not in (None, records):
            warn(f"mde-bridge's summary says {summary['datasets'][0]['records']:,} records; its objects hold "
                 f"{records:,}")
        say(f"equal: {records:,} records, each key once on both sides")

        with stages.time("compression floors (flate2 zlib-rs via xtask gzip-floor; C zlib via Python)"):
            floor_run = run_measured("gzip-floor", [str(xtask_exe), "gzip-floor", "--level", "6", str(ndjson)],
                                     work, logs)
            rs_floor = json.loads(floor_run.stdout)
            c_floor = c_zlib_floor(ndjson, 6)

        with stages.time(f"API time: replaying mde-bridge's {len(our_gets)} GETs × {repeats}"):
            token = peer_export.get_token(token_url, client_id, client_secret, resource, scope)
            replays = []
            for _ in range(repeats):
                sandbox.settle()
                replays.append(replay(sandbox.url, our_gets, token))
            api_times = [t for t, _ in replays]
            api_time, api_bytes = statistics.median(api_times), replays[0][1]
            ours.api_times = api_times
        sandbox.stop()
        if not keep:
            ndjson.unlink()

        ceiling_result = None
        if ceiling:
            with stages.time(f"sandbox: seeding {ceiling_alerts:,} alerts (rate limits on, time_scale 1)"):
                limited = Sandbox(sandbox_exe, sandbox_config(sandbox_exe, tenant, ceiling_alerts, True), work,
                                  "sandbox-ceiling")
            say(f"sandbox at {limited.url}: {ceiling_alerts:,} alerts seeded in {limited.seeded_in:.1f} s")
            ceiling_dir = work / "mde-bridge-ceiling"
            write_bridge_config(ceiling_dir, limited.url, tenant, client_id, client_secret, ceiling_page)
            minimum_calls = math.ceil(ceiling_alerts / ceiling_page)
            ceiling_time = minimum_calls * 60 / CALLS_PER_MINUTE
            limited.settle()
            with stages.time(f"rate-limit ceiling run ({ceiling_page:,} per page, ceiling {ceiling_time:.0f} s)"):
                limited.clear_requests()
                run, run_summary = run_bridge(bridge_exe, ceiling_dir, "mde-bridge-ceiling", logs)
                calls, tokens, throttled, _, _ = count_log(save_log(limited.requests(), logs, "mde-bridge-ceiling"))
            limited.stop()
            ceiling_records = run_summary["datasets"][0].get("records")
            if ceiling_records != ceiling_alerts:
                raise Broken(f"the ceiling run exported {ceiling_records} records of {ceiling_alerts:,}")
            ceiling_result = {
                "alerts": ceiling_alerts, "page": ceiling_page, "wall": run.wall, "cpu": run.cpu,
                "calls": calls, "minimum_calls": minimum_calls, "tokens": tokens, "throttled": throttled,
                "ceiling_time": ceiling_time, "percent": ceiling_time / run.wall * 100,
                "suppressed": run_summary["datasets"][0].get("suppressed"),
            }
    finally:
        kill_children()

    result = assemble(profile, command, alerts, page, records, ours, peer, rs_floor, c_floor, api_time, api_bytes,
                      len(our_gets), summary, ceiling_result, stages, (load_before, load_after))
    print_table(result, records, ours, peer, sandbox.seeded_in)
    bench_dir.mkdir(parents=True, exist_ok=True)
    out = bench_dir / "export.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {out}")
    print_stages(stages)
    if keep:
        say(f"kept the work dir {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


SIDE_BY_SIDE = ", mde-bridge / peer"


def side_by_side(records, ours, peer):
    """(metric, mde-bridge's figure, the peer's) for the table's first part."""
    per100k = 100_000 / records
    return [
        ("records", fmt_int(records), fmt_int(records)),
        ("wall time", fmt_s(ours.wall), fmt_s(peer.wall)),
        ("records/s", fmt_int(round(records / ours.wall)), fmt_int(round(records / peer.wall))),
        ("CPU (user + sys)", fmt_s(ours.cpu), fmt_s(peer.cpu)),
        ("CPU per 100k records", fmt_s(ours.cpu * per100k), fmt_s(peer.cpu * per100k)),
        ("peak RSS", f"{ours.peak_rss_mib:.1f} MiB", f"{peer.peak_rss_mib:.1f} MiB"),
        ("API calls", fmt_int(ours.api_calls), fmt_int(peer.api_calls)),
        ("token requests", fmt_int(ours.token_requests), fmt_int(peer.token_requests)),
        ("429 answers", fmt_int(ours.throttled), fmt_int(peer.throttled)),
        ("sandbox CPU while it ran", fmt_s(ours.sandbox_cpu), fmt_s(peer.sandbox_cpu)),
    ]


def assemble(profile, command, alerts, page, records, ours, peer, rs_floor, c_floor, api_time, api_bytes, gets,
             summary, ceiling, stages, load):
    rows = []
    notes = []

    def row(what, figure, target=None, met=None):
        rows.append({"what": what, "figure": figure, "target": target, "met": met})

    for metric, a, b in side_by_side(records, ours, peer):
        row(f"{metric}{SIDE_BY_SIDE}", f"{a} / {b}")
    row(f"mde-bridge peak RSS ({alerts:,} alerts, {page:,} per page)", f"{ours.peak_rss_mib:.1f} MiB",
        "≤ 64 MiB at 1,000,000 alerts, 10,000 per page", ours.peak_rss_mib <= 64)
    row("machine load (1-min load average) before / after both exporters", f"{load[0]:.2f} / {load[1]:.2f}")
    d = summary["datasets"][0]
    row("mde-bridge: objects / gzip bytes", f"{d.get('objects')} / {fmt_int(d.get('bytes') or 0)}")
    if d.get("suppressed") is not None:
        row("mde-bridge: records suppressed as already exported (a first run: re-reads) / full windows split",
            f"{fmt_int(d['suppressed'])} / {d.get('splits', '—')}")

    ratio_peer = peer.cpu / ours.cpu if ours.cpu else float("inf")
    row("CPU: peer / mde-bridge", f"{ratio_peer:.2f}×", "≥ 3× (exporter CPU per record ≤ 1/3 of the peer's)",
        ratio_peer >= 3)
    ratio_rs = ours.cpu / rs_floor["cpu_seconds"] if rs_floor["cpu_seconds"] else float("inf")
    row("gzip floor: flate2 zlib-rs, level 6 (xtask gzip-floor)",
        f"{fmt_s(rs_floor['cpu_seconds'])} CPU for {rs_floor['bytes_in'] / 2**20:,.1f} MiB → "
        f"{rs_floor['bytes_out'] / 2**20:,.1f} MiB")
    row("gzip floor: C zlib, level 6 (Python zlib)",
        f"{fmt_s(c_floor['cpu_seconds'])} CPU → {c_floor['bytes_out'] / 2**20:,.1f} MiB")
    row("CPU: mde-bridge / zlib-rs floor", f"{ratio_rs:.2f}×", "≤ 1.3× the compression floor", ratio_rs <= 1.3)
    ratio_c = ours.cpu / c_floor["cpu_seconds"] if c_floor["cpu_seconds"] else float("inf")
    row("CPU: mde-bridge / C-zlib floor", f"{ratio_c:.2f}×")
    row(f"API time (mde-bridge's {gets} GETs replayed in sequence)",
        f"{fmt_s(api_time)} ({api_bytes / 2**20:,.1f} MiB)")
    bound = max(api_time, ours.cpu)
    ratio_wall = ours.wall / bound if bound else float("inf")
    row("wall / max(API time, CPU)", f"{ratio_wall:.2f}× ({fmt_s(ours.wall)} / {fmt_s(bound)})", "≤ 1.1×",
        ratio_wall <= 1.1)
    if len(ours.runs) > 1:
        each = [w / max(a, c) for (w, c), a in zip(ours.runs, ours.api_times)]
        row(f"wall / max(API time, CPU), each of the {len(each)} exports with its replay",
            ", ".join(f"{r:.2f}×" for r in each))
    if ceiling:
        row(f"ceiling run ({ceiling['alerts']:,} alerts, {ceiling['page']:,} per page, limits on): wall",
            fmt_s(ceiling["wall"]))
        row("ceiling run: API calls (the minimum, ceil(N / page)) / tokens / records read again",
            f"{ceiling['calls']:,} ({ceiling['minimum_calls']:,}) / {ceiling['tokens']} / "
            f"{fmt_int(ceiling['suppressed'] or 0)}")
        row("ceiling run: ceiling time (the minimum calls at 100/min)", fmt_s(ceiling["ceiling_time"]))
        own = ceiling["calls"] * 60 / CALLS_PER_MINUTE
        row("ceiling run: time its own calls need at 100/min / share of the wall",
            f"{fmt_s(own)} / {own / ceiling['wall'] * 100:.1f} %")
        row("ceiling run: percent of the rate-limit ceiling", f"{ceiling['percent']:.1f} %", "≥ 95 %",
            ceiling["percent"] >= 95)
        row("ceiling run: 429 answers (self-inflicted)", fmt_int(ceiling["throttled"]), "0",
            ceiling["throttled"] == 0)
    else:
        notes.append("The rate-limit ceiling run was skipped (BENCH_CEILING=0).")
    notes.append(
        "The gzip floors compress mde-bridge's decompressed output alone, from memory: flate2 with the exporter's "
        "backend (zlib-rs) in `xtask gzip-floor`, and C zlib through Python's zlib, both at level 6. The API time "
        "is the sum of the latencies of mde-bridge's own GETs replayed one after another. mde-bridge's export "
        "and the replay run several times (`BENCH_REPEATS`, 3 by default): its wall time, CPU, API time and sandbox "
        "CPU are medians, its peak RSS the largest. The ceiling time is "
        f"ceil(N / page) × 60 / {CALLS_PER_MINUTE} s, Microsoft's documented {CALLS_PER_MINUTE} calls per minute "
        "and tenant for the MDE alerts list."
    )
    notes.append(
        f"One sandbox tenant, {alerts:,} MDE alerts with evidence, a quiet world; mde-bridge and the Python peer "
        f"(scripts/bench.d/peer_export.py: urllib, json, gzip) each export every alert at {page:,} per page, gzip "
        "level 6, and their outputs are checked JSON-equal record for record. Exporter, peer and sandbox share the "
        "machine's cores."
    )
    return {
        "section": "export",
        "machine": report.machine_description(),
        "profile": profile,
        "date": datetime.date.today().isoformat(),
        "command": command,
        "rows": rows,
        "notes": notes,
        "stages": [{"stage": name, "seconds": round(s, 1)} for name, s in stages.items],
    }


def print_table(result, records, ours, peer, seeded_in):
    out = sys.stdout
    print(f"export benchmark — {result['machine']}, profile {result['profile']}, {result['date']}", file=out)
    print(f"sandbox seeded in {seeded_in:.1f} s", file=out)
    print("", file=out)
    print(f"{'':26} {'mde-bridge':>14} {'python peer':>14}", file=out)
    for metric, a, b in side_by_side(records, ours, peer):
        print(f"{metric:26} {a:>14} {b:>14}", file=out)
    print("", file=out)
    shown = [r for r in result["rows"] if not r["what"].endswith(SIDE_BY_SIDE)]
    width = max(len(r["what"]) for r in shown)
    figure_width = max(len(r["figure"]) for r in shown)
    for r in shown:
        verdict = "" if r["met"] is None else ("met" if r["met"] else "NOT MET")
        target = f"target {r['target']}: {verdict}" if r["target"] else ""
        print(f"{r['what']:{width}}  {r['figure']:>{figure_width}}  {target}".rstrip(), file=out)
    for note in result["notes"]:
        print(f"\n{note}", file=out)
    out.flush()


def print_stages(stages):
    say("stages")
    for name, seconds in stages.items:
        print(f"    {seconds:8.1f} s  {name}", file=sys.stderr)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    except Broken as e:
        print(f"\033[1;31mxxx {e}\033[0m", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        kill_children()
        sys.exit(130)
