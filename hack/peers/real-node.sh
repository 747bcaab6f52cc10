#!/usr/bin/env bash
# Installs the Debian packages a real node of the local cluster needs (hack/cluster/real-node.ts), when missing:
#   containerd                  -> containerd, ctr, containerd-shim-runc-v2
#   runc                        -> runc
#   containernetworking-plugins -> /usr/lib/cni/{bridge,host-local,loopback}
#   iptables                    -> iptables, iptables-save (kube-proxy's iptables mode)
#   conntrack                   -> conntrack (kube-proxy clears stale UDP entries with it)
#   ipset                       -> ipset (kube-router, the test peer enforcing NetworkPolicies, keeps policy peers in sets)
#   busybox-static              -> /bin/busybox (the tiny test images of test/integration/real-node.test.ts)
# Installing containerd must not start its daemon (the harness runs its own, with all state in a temp dir); the
# shared installer keeps every package's service from starting.
set -euo pipefail
. "$(dirname "$0")/apt-install.sh"
ensure_packages real-node.sh \
  containerd=containerd \
  runc=runc \
  containernetworking-plugins=/usr/lib/cni/bridge \
  iptables=iptables \
  ipset=ipset \
  conntrack=conntrack \
  busybox-static=/bin/busybox
