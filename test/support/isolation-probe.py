# The isolation e2e's probe, run INSIDE a pod (`python -c`, from the Synapse image, which has Python): tries every
# target at once and prints one JSON object, target id -> outcome. Outcomes: "reached" (TCP connected, or a UDP service
# answered: a STUN binding response, a DNS answer), "refused" (RST or ICMP port unreachable: kube-router REJECTs what a
# policy denies), "timeout", "unreachable" (no route), "error: ...". Every target is an address the harness created
# (pod IPs, ClusterIPs, the node's bridge address); nothing else is ever contacted.
import json
import os
import socket
import struct
import sys
import threading

TIMEOUT = float(os.environ.get("PROBE_TIMEOUT", "3"))


def outcome_of(err):
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(err, OSError) and err.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
        return "unreachable"
    return "error: %s" % err


def tcp(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT):
        return "reached"


def udp(host, port, request, answered):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.connect((host, port))
        s.send(request)
        reply = s.recv(2048)
        return "reached" if answered(reply) else "error: unexpected reply"


def stun(host, port):
    txid = os.urandom(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid
    return udp(host, port, request, lambda r: len(r) >= 20 and r[0:2] == b"\x01\x01" and r[8:20] == txid)


def dns(host, port):
    qid = os.urandom(2)
    name = b"".join(bytes([len(p)]) + p for p in b"kubernetes.default.svc.cluster.local".split(b".")) + b"\x00"
    request = qid + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x01\x00\x01"
    return udp(host, port, request, lambda r: r[0:2] == qid and struct.unpack("!H", r[6:8])[0] > 0)


PROTOCOLS = {"tcp": tcp, "stun": stun, "dns": dns}


def main():
    targets = json.loads(sys.argv[1])
    results = {}

    def probe(t):
        try:
            results[t["id"]] = PROTOCOLS[t["proto"]](t["host"], int(t["port"]))
        except Exception as err:  # noqa: BLE001 - every failure is an outcome to report
            results[t["id"]] = outcome_of(err)

    threads = [threading.Thread(target=probe, args=(t,)) for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(json.dumps(results))


main()
