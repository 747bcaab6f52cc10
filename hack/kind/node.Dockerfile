# The offline kind node's root filesystem (hack/kind/node-image.ts builds it with the legacy builder, --network host
# for apt). Follows kind v0.33.0's images/base/Dockerfile, with Debian's systemd, containerd and runc instead of
# binaries fetched from the internet; files/ is kind's images/base/files from its Go module, node/ is ours.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      systemd containerd runc conntrack iptables nftables ipset iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz e2fsprogs bash ca-certificates procps jq \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY node/ /
COPY bin/ /usr/bin/
COPY cni/ /opt/cni/bin/
RUN chmod 755 /usr/local/bin/* /kind /kind/bin /kind/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl \
      /usr/bin/crictl /opt/cni/bin/* \
 && find /etc/systemd /etc/containerd /etc/default /etc/sysctl.d /etc/crictl.yaml /etc/cni /kind -type f \
      -not -path '/kind/bin/*' -exec chmod 644 {} + \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml \
 && grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/warroom-egress-guard", "/usr/local/bin/entrypoint", "/sbin/init"]
