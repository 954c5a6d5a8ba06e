# The NixOS options sshscrape's modules and VM test define or read, declared with the types NixOS uses
# (nixos/modules/…), plus the few behaviours they depend on: the users/groups assertions
# (config/users-groups.nix), known_hosts rendered to /etc/ssh/ssh_known_hosts (programs/ssh.nix), and
# `system.build.toplevel` failing on assertions (system/activation/top-level.nix). Defining any option not
# declared here is an error, as in NixOS.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption types;
  opt =
    type: default:
    mkOption {
      inherit type default;
    };
  bool = opt types.bool false;
  strs = opt (types.listOf types.str) [ ];
  nullStr = opt (types.nullOr types.str) null;
  nullAny = opt (types.nullOr types.anything) null;

  userModule = {
    options = {
      isSystemUser = bool;
      isNormalUser = bool;
      group = opt types.str "";
      description = opt types.str "";
      home = opt types.str "/var/empty";
      createHome = bool;
      shell = opt (types.nullOr types.anything) "/run/current-system/sw/bin/nologin";
      extraGroups = strs;
      uid = opt (types.nullOr types.int) null;
      hashedPassword = nullStr;
      openssh.authorizedKeys = {
        keys = strs;
        keyFiles = opt (types.listOf types.path) [ ];
      };
    };
  };

  groupModule = {
    options = {
      gid = opt (types.nullOr types.int) null;
      members = strs;
    };
  };

  knownHostModule =
    { name, config, ... }:
    {
      options = {
        hostNames = opt (types.listOf types.str) ([ name ] ++ config.extraHostNames);
        extraHostNames = strs;
        publicKey = nullStr;
        publicKeyFile = opt (types.nullOr types.path) null;
        certAuthority = bool;
      };
    };

  # nixos/modules/services/monitoring/prometheus/default.nix: a closed submodule; unset keys are null and
  # dropped when prometheus.yml is written.
  staticConfigModule = {
    options = {
      targets = strs;
      labels = opt (types.attrsOf types.str) { };
    };
  };
  scrapeConfigModule = {
    options = {
      job_name = mkOption { type = types.str; };
      scheme = opt (types.nullOr (
        types.enum [
          "http"
          "https"
        ]
      )) null;
      metrics_path = nullStr;
      params = nullAny;
      proxy_url = nullStr;
      scrape_interval = nullStr;
      scrape_timeout = nullStr;
      honor_labels = opt (types.nullOr types.bool) null;
      honor_timestamps = opt (types.nullOr types.bool) null;
      static_configs = opt (types.nullOr (types.listOf (types.submodule staticConfigModule))) null;
      relabel_configs = nullAny;
      metric_relabel_configs = nullAny;
      tls_config = nullAny;
      basic_auth = nullAny;
      body_size_limit = nullStr;
      sample_limit = opt (types.nullOr types.int) null;
    };
  };

  serviceModule = {
    options = {
      enable = opt types.bool true;
      description = opt types.str "";
      documentation = strs;
      wantedBy = strs;
      requiredBy = strs;
      wants = strs;
      requires = strs;
      after = strs;
      before = strs;
      bindsTo = strs;
      partOf = strs;
      restartTriggers = opt (types.listOf types.anything) [ ];
      reloadTriggers = opt (types.listOf types.anything) [ ];
      environment = opt (types.attrsOf types.str) { };
      path = opt (types.listOf types.anything) [ ];
      script = opt types.lines "";
      preStart = opt types.lines "";
      unitConfig = opt (types.attrsOf types.unitOption) { };
      serviceConfig = opt (types.attrsOf types.unitOption) { };
      startLimitBurst = opt (types.nullOr types.int) null;
      startLimitIntervalSec = opt (types.nullOr types.int) null;
    };
  };

  etcModule =
    { name, config, ... }:
    {
      options = {
        enable = opt types.bool true;
        text = opt (types.nullOr types.lines) null;
        source = opt types.path (builtins.toFile (baseNameOf name) config.text);
        mode = opt types.str "symlink";
        user = opt types.str "+0";
        group = opt types.str "+0";
      };
    };

  cfg = config;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
in
{
  options = {
    assertions = opt (types.listOf types.anything) [ ];
    warnings = strs;

    networking = {
      hostName = opt types.str "nixos";
      firewall = {
        enable = opt types.bool true;
        allowedTCPPorts = opt (types.listOf types.port) [ ];
      };
    };

    users.users = opt (types.attrsOf (types.submodule userModule)) { };
    users.groups = opt (types.attrsOf (types.submodule groupModule)) { };

    environment.etc = opt (types.attrsOf (types.submodule etcModule)) { };
    environment.systemPackages = opt (types.listOf types.package) [ ];

    systemd.services = opt (types.attrsOf (types.submodule serviceModule)) { };
    systemd.tmpfiles.rules = strs;

    services.openssh = {
      enable = bool;
      ports = opt (types.listOf types.port) [ 22 ];
      openFirewall = opt types.bool true;
      hostKeys = opt (types.listOf types.attrs) [ ];
      settings = opt types.attrs { };
      extraConfig = opt types.lines "";
      knownHosts = opt (types.attrsOf (types.submodule knownHostModule)) { };
    };

    services.prometheus = {
      enable = bool;
      port = opt types.port 9090;
      listenAddress = opt types.str "0.0.0.0";
      globalConfig = opt types.attrs { };
      scrapeConfigs = opt (types.listOf (types.submodule scrapeConfigModule)) [ ];
      ruleFiles = opt (types.listOf types.path) [ ];
      exporters.node = {
        enable = bool;
        port = opt types.port 9100;
        listenAddress = opt types.str "0.0.0.0";
        openFirewall = bool;
        enabledCollectors = strs;
      };
    };

    system.build.toplevel = mkOption { type = types.anything; };
  };

  config = {
    # nixos/modules/config/users-groups.nix
    assertions = lib.concatMap (
      name:
      let
        u = cfg.users.users.${name};
      in
      [
        {
          assertion = u.isSystemUser != u.isNormalUser;
          message = "Exactly one of users.users.${name}.isSystemUser and users.users.${name}.isNormalUser must be set.";
        }
        {
          assertion = u.group != "" && cfg.users.groups ? ${u.group};
          message = "users.users.${name}.group must name a group declared in users.groups.";
        }
      ]
    ) (builtins.attrNames cfg.users.users)
    # nixos/modules/programs/ssh.nix
    ++ lib.mapAttrsToList (name: h: {
      assertion = (h.publicKey == null) != (h.publicKeyFile == null);
      message = "knownHost ${name} must contain either a publicKey or publicKeyFile";
    }) cfg.services.openssh.knownHosts;

    environment.etc."ssh/ssh_known_hosts".text = lib.concatStringsSep "\n" (
      lib.mapAttrsToList (
        _: h:
        (if h.certAuthority then "@cert-authority " else "")
        + lib.concatStringsSep "," h.hostNames
        + " "
        + (if h.publicKey != null then h.publicKey else builtins.readFile h.publicKeyFile)
      ) cfg.services.openssh.knownHosts
    )
    + "\n";

    system.build.toplevel =
      if failed != [ ] then
        throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
      else
        pkgs.runCommand "nixos-system-${cfg.networking.hostName}-stub" {
          units = builtins.toJSON (lib.mapAttrs (_: s: s.serviceConfig) cfg.systemd.services);
        } "exit 1";
  };
}
