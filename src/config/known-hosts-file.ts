/** Where NixOS writes `services.openssh.knownHosts` (and OpenSSH's system-wide known_hosts): the default. */
export const SYSTEM_KNOWN_HOSTS_FILE = "/etc/ssh/ssh_known_hosts";
