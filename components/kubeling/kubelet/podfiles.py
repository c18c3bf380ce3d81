"""The per-pod ``/etc/hosts`` and ``/etc/resolv.conf`` the kubelet writes and bind-mounts.

Contents follow upstream's kubelet: a managed hosts file with the pod's own
FQDN and ``hostAliases``; resolv.conf per ``dnsPolicy`` (ClusterFirst:
the cluster DNS, search ``<ns>.svc.<domain> svc.<domain> <domain>`` plus the
host's searches, ``options ndots:5``; Default: the host's file; None: only
``dnsConfig``; dnsConfig merges into the others).  Files live under
``<root-dir>/pods/<uid>/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeling.kubelet.runtime import DNSConfig

Obj = dict[str, Any]
MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048


def hostname_and_domain(pod: Obj, cluster_domain: str) -> tuple[str, str]:
    """(hostname, domain): spec.hostname or the pod's name (63 chars), and the subdomain's FQDN part."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = (spec.get("hostname") or meta.get("name", ""))[:63].rstrip("-.")
    domain = ""
    if spec.get("subdomain"):
        domain = f"{spec['subdomain']}.{meta.get('namespace', 'default')}.svc.{cluster_domain}"
    return hostname, domain


def hosts_file(pod: Obj, pod_ips: list[str], cluster_domain: str, host_hosts: str = "") -> str:
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        out = "# Kubernetes-managed hosts file (host network).\n" + host_hosts
    else:
        hostname, domain = hostname_and_domain(pod, cluster_domain)
        out = (
            "# Kubernetes-managed hosts file.\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\n"
            "fe00::1\tip6-allnodes\n"
            "fe00::2\tip6-allrouters\n"
        )
        for ip in pod_ips:
            out += f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n"
    aliases = spec.get("hostAliases") or []
    if aliases:
        if not out.endswith("\n"):
            out += "\n"
        out += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            out += "\t".join([alias.get("ip", ""), *(alias.get("hostnames") or [])]) + "\n"
    return out


@dataclass
class Resolv:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_resolv(text: str) -> Resolv:
    out = Resolv()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            out.servers.append(words[1])
        elif words[0] in ("search", "domain"):
            out.searches = words[1:]
        elif words[0] == "options":
            out.options.extend(words[1:])
    return out


def effective_policy(pod: Obj, cluster_dns: list[str]) -> str:
    """ClusterFirst | Default | None after upstream's rules (hostNetwork, no cluster DNS configured)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    if policy == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
    if policy == "ClusterFirst" and not cluster_dns:
        policy = "Default"  # upstream falls back (and records MissingClusterDNS)
    return policy


def _merge_options(base: list[str], extra: list[Obj]) -> list[str]:
    merged: dict[str, str] = {}
    for option in base:
        merged[option.partition(":")[0]] = option
    for option in extra:
        name = option.get("name", "")
        merged[name] = f"{name}:{option['value']}" if option.get("value") is not None else name
    return list(merged.values())


def dns_config(pod: Obj, cluster_dns: list[str], cluster_domain: str, host: Resolv) -> DNSConfig:
    spec = pod.get("spec") or {}
    policy = effective_policy(pod, cluster_dns)
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    if policy == "ClusterFirst":
        searches = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
        config = DNSConfig(list(cluster_dns), searches + host.searches, ["ndots:5"])
    elif policy == "Default":
        config = DNSConfig(list(host.servers), list(host.searches), list(host.options))
    else:
        config = DNSConfig()
    extra = spec.get("dnsConfig") or {}
    for server in extra.get("nameservers") or []:
        if server not in config.servers:
            config.servers.append(server)
    for search in extra.get("searches") or []:
        if search not in config.searches:
            config.searches.append(search)
    config.options = _merge_options(config.options, extra.get("options") or [])
    config.servers = config.servers[:MAX_NAMESERVERS]
    searches: list[str] = []
    for search in config.searches[:MAX_SEARCHES]:
        if len(" ".join([*searches, search])) > MAX_SEARCH_CHARS:
            break
        searches.append(search)
    config.searches = searches
    return config


def resolv_conf(config: DNSConfig) -> str:
    lines = [f"nameserver {s}" for s in config.servers]
    if config.searches:
        lines.append("search " + " ".join(config.searches))
    if config.options:
        lines.append("options " + " ".join(config.options))
    return "\n".join(lines) + "\n"


def write_pod_files(
    pod_dir: Path,
    pod: Obj,
    *,
    pod_ips: list[str],
    cluster_dns: list[str],
    cluster_domain: str,
    host_resolv: str = "/etc/resolv.conf",
    host_hosts: str = "/etc/hosts",
) -> tuple[Path, Path, DNSConfig]:
    """Write ``etc-hosts`` and ``resolv.conf`` into the pod's directory; returns both paths and the DNS."""
    pod_dir.mkdir(parents=True, exist_ok=True)
    host = parse_resolv(_read(host_resolv))
    config = dns_config(pod, cluster_dns, cluster_domain, host)
    hosts_path, resolv_path = pod_dir / "etc-hosts", pod_dir / "resolv.conf"
    _write(hosts_path, hosts_file(pod, pod_ips, cluster_domain, _read(host_hosts)))
    _write(resolv_path, resolv_conf(config))
    return hosts_path, resolv_path, config


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    """Atomically, so a container never sees half a file."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
