#!/usr/bin/env python3
"""One account's 2,000 consecutive nonces over 8 connections at once, each connection a
slice of 250 sent in order, the connections spread over the given nodes; then every
acknowledged transaction's final status, counted by status and code.

    clobchain testnet --validators 4 --dir /tmp/net --api-port 18080 --p2p-port 19080 &
    target/venv-tests/bin/python scripts/nonce-burst.py \
        http://127.0.0.1:18080,http://127.0.0.1:18081,http://127.0.0.1:18082,http://127.0.0.1:18083 \
        /tmp/net/dev-keys.json 1

Arguments: the nodes' API URLs (comma-separated), a dev-keys.json (its first key signs),
the first nonce. Needs the Python client (`pip install -e clients/python`).
"""
import json, sys, threading, time, urllib.request
from clobchain.encoding import Transaction, Faucet
from clobchain.keys import Key

apis = sys.argv[1].split(",")
keys = json.load(open(sys.argv[2]))
key = Key.from_hex(keys[0]["secret_key"])
signer = bytes.fromhex(key.account)
start = int(sys.argv[3])
txs = [Transaction(1337, signer, start + i, Faucet(0, 1)).sign(key) for i in range(2000)]

def post(api, path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

acked = {}
lock = threading.Lock()
def send(c):
    api = apis[c % len(apis)]
    for tx in txs[c * 250:(c + 1) * 250]:
        status, body = post(api, "/v1/transactions", {"tx": tx.hex})
        if status in (200, 202):
            with lock:
                acked[tx.hash] = api
        else:
            print("refused", status, body, file=sys.stderr)
threads = [threading.Thread(target=send, args=(c,)) for c in range(8)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
print(f"acknowledged {len(acked)} of 2000 in {time.time() - t0:.1f} s")
final = {}
deadline = time.time() + 60
while len(final) < len(acked) and time.time() < deadline:
    for h, api in acked.items():
        if h in final: continue
        try:
            with urllib.request.urlopen(f"{api}/v1/transactions/{h}", timeout=10) as r:
                s = json.loads(r.read())
        except urllib.error.HTTPError as e:
            s = {"status": f"http {e.code}"}
        if s["status"] != "pending":
            final[h] = s
    time.sleep(0.2)
from collections import Counter
print("final:", Counter((s["status"], s.get("code")) for s in final.values()), "still open:", len(acked) - len(final))
