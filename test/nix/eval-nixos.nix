# The one stub NixOS evaluation the tests use (stub-nixpkgs/, see its README): declared option types, an
# error for every undeclared option (NixOS' closed scrapeConfigs submodule included), the users/groups and
# knownHosts assertions, known_hosts rendered to a file. Adds what generated files need beyond it: sops-nix's
# and agenix's secret options (their option names, types and default paths) and `pkgs.sshscrape` (the flake
# overlay's attribute). Returns what the tests inspect, as JSON-able data.
#   modules: the test's modules, or generated files (paths or functions);
#   sshscrapeModules: also import nix/module.nix and nix/target.nix (the flake's modules, and what
#   `generate --module` output configures); services.sshscrape.package defaults to a stub package.
{
  modules,
  sshscrapeModules ? false,
  system ? "x86_64-linux",
}:

let
  lib = import ./stub-nixpkgs/lib.nix;
  inherit (lib) mkOption types;
  stubPackage = {
    type = "derivation";
    name = "sshscrape";
    outPath = "/nix/store/00000000000000000000000000000000-sshscrape-stub";
    meta.mainProgram = "sshscrape";
  };
  pkgs = import ./stub-nixpkgs/pkgs.nix { inherit system lib; } // {
    sshscrape = stubPackage;
  };
  opt =
    type: default:
    mkOption {
      inherit type default;
    };
  # sops-nix modules/sops/default.nix (secretType) and agenix modules/age.nix (secretType), reduced to the
  # options a generated file may set or read.
  secretOptions = {
    options.sops.secrets = opt (types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            sopsFile = mkOption { type = types.path; };
            key = opt types.str name;
            format = opt (types.enum [
              "yaml"
              "json"
              "binary"
              "dotenv"
              "ini"
            ]) "yaml";
            mode = opt types.str "0400";
            owner = opt (types.nullOr types.str) null;
            group = opt (types.nullOr types.str) null;
            path = opt types.str "/run/secrets/${name}";
            restartUnits = opt (types.listOf types.str) [ ];
            reloadUnits = opt (types.listOf types.str) [ ];
          };
        }
      )
    )) { };
    options.age.secrets = opt (types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            file = mkOption { type = types.path; };
            path = opt types.str "/run/agenix/${name}";
            mode = opt types.str "0400";
            owner = opt types.str "0";
            group = opt types.str "0";
            symlink = opt types.bool true;
          };
        }
      )
    )) { };
  };
  sys = lib.nixosSystem {
    inherit system;
    modules = [
      secretOptions
    ]
    ++ lib.optionals sshscrapeModules [
      ../../nix/module.nix
      ../../nix/target.nix
      { services.sshscrape.package = lib.mkDefault stubPackage; }
    ]
    ++ modules;
    specialArgs = {
      inherit pkgs;
    };
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
in
walk {
  inherit (sys) failedAssertions;
  users = c.users.users;
  groups = c.users.groups;
  knownHosts = c.services.openssh.knownHosts;
  knownHostsText =
    if c.services.openssh.knownHosts == { } then
      ""
    else
      builtins.readFile c.environment.etc."ssh/ssh_known_hosts".source;
  scrapeConfigs = c.services.prometheus.scrapeConfigs;
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
