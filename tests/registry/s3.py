"""The registry on S3 (SeaweedFS): concurrent pushes get distinct numbers, the gate rejects a
worse model and leaves the serving version untouched, `kiln serve s3://...` follows a
promotion and a rollback without a failed request, and `kiln loop` promotes an update."""

import argparse
import csv
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

failures = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what, predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    print(f"  timed out waiting for {what}", flush=True)
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", required=True)
    p.add_argument("--weed", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--workdir", required=True)
    a = p.parse_args()
    work = a.workdir

    # Every port named: by default SeaweedFS puts each gRPC port 10,000 above its HTTP port,
    # past 65,535 for a high free port.
    ports = set()
    while len(ports) < 8:
        ports.add(free_port())
    s3_port, master, volume, filer, *grpc = sorted(ports)
    os.makedirs(f"{work}/weed", exist_ok=True)
    weed_log = open(os.path.join(work, "weed.log"), "w")
    weed = subprocess.Popen(
        [a.weed, "server", "-ip=127.0.0.1", f"-dir={work}/weed", "-s3", f"-s3.port={s3_port}",
         f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
         f"-s3.port.grpc={grpc[0]}", f"-master.port.grpc={grpc[1]}",
         f"-volume.port.grpc={grpc[2]}", f"-filer.port.grpc={grpc[3]}",
         "-master.volumeSizeLimitMB=64"],
        stdout=weed_log, stderr=subprocess.STDOUT)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="kiln", AWS_SECRET_ACCESS_KEY="kiln",
               AWS_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
               AWS_ALLOW_HTTP="true")
    server = None
    try:
        endpoint = f"http://127.0.0.1:{s3_port}"
        if not wait_for("SeaweedFS's S3 port",
                        lambda: http("PUT", f"{endpoint}/models")[0] in (200, 409), 90):
            check(False, "SeaweedFS started")
            return
        reg = "s3://models/registry"

        def kiln(*args, ok=(0,)):
            r = subprocess.run([a.kiln, *args], env=env, cwd=work, capture_output=True, text=True)
            if r.returncode not in ok:
                print(r.stdout, r.stderr, file=sys.stderr)
                raise SystemExit(f"kiln {' '.join(args)} exited {r.returncode}")
            return r

        # Data: a training table, and a copy whose labels are shuffled (a model that learned
        # nothing, which the gate must refuse).
        rows = list(csv.reader(open(a.data)))
        header, body = rows[0], rows[1:]
        target = header.index("diagnosis")
        random.Random(7).shuffle(body)
        holdout, train = body[:120], body[120:]
        shuffled_labels = [r[target] for r in train]
        random.Random(8).shuffle(shuffled_labels)
        noise = [r[:target] + [y] + r[target + 1:] for r, y in zip(train, shuffled_labels)]
        for name, table in [("train.csv", train), ("noise.csv", noise), ("holdout.csv", holdout)]:
            with open(os.path.join(work, name), "w", newline="") as f:
                csv.writer(f).writerows([header] + table)
        for name, data, seed in [("good", "train.csv", "1"), ("good2", "train.csv", "2"),
                                 ("noise", "noise.csv", "1")]:
            kiln("train", data, "--target", "diagnosis", "--epochs", "20", "--seed", seed,
                 "--out", f"{name}.kiln")

        print("== concurrent pushes", flush=True)
        procs = [subprocess.Popen([a.kiln, "registry", "push", f"{m}.kiln", "--name", "bc",
                                   "-r", reg, "--json"], env=env, cwd=work,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for m in ["good", "good2", "good", "good2"]]
        numbers = []
        for pr in procs:
            out, err = pr.communicate()
            check(pr.returncode == 0, f"push exited 0 ({err.strip()[:200]})")
            if pr.returncode == 0:
                numbers.append(json.loads(out)["candidate"])
        check(sorted(numbers) == [1, 2, 3, 4], f"four pushes at once got candidates 1-4: {numbers}")
        status = json.loads(kiln("registry", "list", "bc", "-r", reg, "--json").stdout)
        pushes = [e for e in status["events"] if e["action"] == "push"]
        check(sorted(e["seq"] for e in pushes) == [1, 2, 3, 4], "one event each, numbered 1-4")

        print("== gate", flush=True)
        r = kiln("registry", "promote", "bc", "--candidate", "1", "-r", reg, "--json")
        check(json.loads(r.stdout)["promotion"]["version"] == 1, "candidate 1 serves as version 1")
        kiln("registry", "push", "noise.kiln", "--name", "bc", "-r", reg)
        r = kiln("registry", "promote", "bc", "-r", reg, "--holdout", "holdout.csv", "--json", ok=(1,))
        gate = json.loads(r.stdout)["promotion"]["gate"]
        check(not gate["passed"], f"the label-shuffled model is rejected: {gate['reason']}")
        status = json.loads(kiln("registry", "list", "bc", "-r", reg, "--json").stdout)
        check(status["serving"] == 1, "version 1 still serves after the rejection")
        code, listing = http("GET", f"{endpoint}/models?list-type=2&prefix=registry/bc/")
        check(code == 200 and b"<Key>registry/bc/1/model.kiln</Key>" in listing,
              "the serving version is an object in the bucket")
        check(not os.path.exists(os.path.join(work, "s3:")), "nothing was written to a local folder")

        print("== serve follows the bucket", flush=True)
        log = open(os.path.join(work, "serve.log"), "w")
        server = subprocess.Popen([a.kiln, "serve", reg, "--port", "0", "--poll-ms", "200"],
                                  env=env, cwd=work, stdout=subprocess.PIPE, stderr=log, text=True)
        line = server.stdout.readline().strip()
        address = line.removeprefix("listening on ")
        check(address.startswith("http://"), f"serve printed its address: {line}")
        row = {h: v for h, v in zip(header, holdout[0]) if h != "diagnosis"}

        def served_version():
            code, body = http("POST", f"{address}/v2/repository/index", {})
            ready = [m["version"] for m in json.loads(body) if m["state"] == "READY"]
            return ready

        check(wait_for("version 1 to serve", lambda: served_version() == ["1"], 30), "version 1 serves from the bucket")
        r = kiln("registry", "promote", "bc", "--candidate", "4", "-r", reg,
                 "--holdout", "holdout.csv", "--margin", "0.1", "--json")
        promoted = json.loads(r.stdout)["promotion"]["version"]
        check(promoted == 4, f"candidate 4 serves as version 4: {promoted}")
        check(wait_for("version 4 to serve", lambda: served_version() == ["4"], 30), "the server follows the promotion")

        stop = threading.Event()
        answered, failed = [0], []

        def client():
            while not stop.is_set():
                code, body = http("POST", f"{address}/v2/models/bc/infer", {"inputs": [
                    {"name": k, "shape": [1], "datatype": "BYTES", "data": [v]} for k, v in row.items()]})
                if code == 200:
                    answered[0] += 1
                else:
                    failed.append((code, body[:200]))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        kiln("registry", "rollback", "bc", "-r", reg)
        back = wait_for("version 1 to serve again", lambda: served_version() == ["1"], 30)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        check(back, "the server follows the rollback")
        check(not failed and answered[0] > 20,
              f"{answered[0]} requests answered during the rollback, {len(failed)} failed {failed[:2]}")

        print("== loop", flush=True)
        # The held-out rows, their measurements scaled: drift, with labels to learn from.
        drifted = [[str(float(v) * 1.5) if i != target and v.replace('.', '', 1).isdigit() else v
                    for i, v in enumerate(r)] for r in holdout]
        with open(os.path.join(work, "live.csv"), "w", newline="") as f:
            csv.writer(f).writerows([header] + drifted)
        r = kiln("loop", "-r", reg, "--name", "bc", "--log", "live.csv", "--min-labelled", "50",
                 "--margin", "1", "--json")
        round_ = json.loads(r.stdout)
        check(round_["outcome"] == "promoted", f"the loop updated and promoted: {round_['outcome']}")
        check(wait_for("the loop's version to serve",
                       lambda: served_version() == [str(round_["promotion"]["version"])], 30),
              "the server follows the loop's promotion")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        weed.terminate()
        try:
            weed.wait(timeout=20)
        except subprocess.TimeoutExpired:
            weed.kill()


if __name__ == "__main__":
    main()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
