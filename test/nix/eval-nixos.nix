# Evaluates sshscrape's NixOS modules with the stub module system (stub-nixpkgs/, see its README) and
# returns what the tests inspect, as JSON-able data. `modules`: the test's own configuration modules.
{
  modules,
  system ? "x86_64-linux",
}:

let
  lib = import ./stub-nixpkgs/lib.nix;
  sys = lib.nixosSystem {
    inherit system;
    modules = [
      ../../nix/module.nix
      ../../nix/target.nix
    ]
    ++ modules;
  };
  c = sys.config;
in
{
  inherit (sys) failedAssertions;
  users = c.users.users;
  groups = c.users.groups;
  knownHosts = c.services.openssh.knownHosts;
  knownHostsText = builtins.readFile c.environment.etc."ssh/ssh_known_hosts".source;
  scrapeConfigs = c.services.prometheus.scrapeConfigs;
  nodeExporter = c.services.prometheus.exporters.node;
  sshdExtraConfig = c.services.openssh.extraConfig;
  services = lib.mapAttrs (_: s: {
    inherit (s)
      description
      wantedBy
      wants
      after
      before
      reloadTriggers
      restartTriggers
      serviceConfig
      ;
  }) c.systemd.services;
}
