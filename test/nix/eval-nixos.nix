# The one NixOS evaluation the tests use: stub-nixpkgs/nixos (NixOS 25.11's option types and behaviour for
# what we touch, see stub-nixpkgs/README.md) plus sops-nix's and agenix's secret options (stub-secrets.nix)
# and `pkgs.sshscrape` (the flake overlay's attribute). Returns what the tests inspect, as JSON-able data.
#   modules: the test's modules, or generated files (paths or functions);
#   sshscrapeModules: also import nix/module.nix and nix/target.nix (the flake's modules);
#   services.sshscrape.package defaults to a stub package.
# SSHSCRAPE_NIXPKGS_LIB=/path/to/nixpkgs/lib (read by nix-instantiate, see test/nix/nix.ts) runs the same
# evaluation on a real nixpkgs lib — its module system and types — instead of stub-nixpkgs/lib.nix.
{
  modules,
  sshscrapeModules ? false,
  system ? "x86_64-linux",
  # An option path ([ "services" "sshscrape" "configFile" ]): return that value as is (e.g. to build it).
  attr ? null,
}:

let
  realLib = builtins.getEnv "SSHSCRAPE_NIXPKGS_LIB";
  lib = if realLib == "" then import ./stub-nixpkgs/lib.nix else import (/. + realLib);
  stubPackage = {
    type = "derivation";
    name = "sshscrape";
    outPath = "/nix/store/00000000000000000000000000000000-sshscrape-stub";
    meta.mainProgram = "sshscrape";
  };
  pkgs = import ./stub-nixpkgs/pkgs.nix { inherit system lib; } // {
    sshscrape = stubPackage;
  };
  sys = import ./stub-nixpkgs/nixos/eval.nix {
    inherit lib system pkgs;
    modules = [
      ./stub-secrets.nix
    ]
    ++ lib.optionals sshscrapeModules [
      ../../nix/module.nix
      ../../nix/target.nix
      { services.sshscrape.package = lib.mkDefault stubPackage; }
    ]
    ++ modules;
  };
  c = sys.config;
  # Paths become their absolute names instead of being copied into the store by --json.
  walk =
    v:
    if builtins.isPath v then
      toString v
    else if builtins.isAttrs v && !(v ? outPath) then
      builtins.mapAttrs (_: walk) v
    else if builtins.isList v then
      map walk v
    else
      v;
  etcText = name: if c.environment.etc ? ${name} then builtins.readFile c.environment.etc.${name}.source else "";
in
if attr != null then
  lib.getAttrFromPath attr c
else
walk {
  inherit (sys) failedAssertions;
  lib = if realLib == "" then "stub" else "nixpkgs";
  users = c.users.users;
  groups = c.users.groups;
  knownHosts = c.programs.ssh.knownHosts;
  knownHostsText = etcText "ssh/ssh_known_hosts";
  knownHostsSource = if c.environment.etc ? "ssh/ssh_known_hosts" then c.environment.etc."ssh/ssh_known_hosts".source else null;
  sshdConfig = etcText "ssh/sshd_config";
  scrapeConfigs = c.services.prometheus.scrapeConfigs;
  prometheusConfig = c.system.build.prometheusConfig;
  ruleFiles = c.services.prometheus.ruleFiles;
  nodeExporter = c.services.prometheus.exporters.node;
  sshdExtraConfig = c.services.openssh.extraConfig;
  sops = c.sops.secrets;
  age = c.age.secrets;
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
