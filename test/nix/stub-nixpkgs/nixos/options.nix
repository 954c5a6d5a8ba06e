# The NixOS 25.11 options sshscrape's modules, the generated files and the VM test set or read, declared
# with the types NixOS gives them, plus the behaviour they depend on (see ../README.md):
# - config/users-groups.nix: `name`, `description`, `home` are passwdEntry (no ":" and no newline), the
#   isSystemUser/isNormalUser and `group` assertions;
# - programs/ssh.nix: `programs.ssh.knownHosts` (services.openssh.knownHosts is an alias of it), the
#   publicKey/publicKeyFile assertion, /etc/ssh/ssh_known_hosts;
# - services/networking/ssh/sshd.nix: `settings` (freeform), `extraConfig` lines after the module's own
#   preamble (mkOrder 0), /etc/ssh/sshd_config;
# - system/boot/systemd.nix + lib/systemd-unit-options.nix: unit options (lists concatenate, scalars must
#   agree), serviceConfig's Type/Restart checks;
# - services/monitoring/prometheus: the closed `scrapeConfigs` submodule (key set of 25.11), the prometheus
#   user, `checkConfig`, and `exporters.node` with its `--web.listen-address ${listenAddress}:${port}`;
# - system/activation/top-level.nix: `system.build.toplevel` fails on failed assertions.
# Written against lib's public API only, so it runs on this directory's lib.nix and on a real nixpkgs lib.
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

  # lib/types.nix singleLineStr (a string without line breaks, optionally ending in one).
  singleLineStr = types.addCheck types.str (s: builtins.match "[^\n\r]*\n?" s != null) // {
    description = "(optionally newline-terminated) single-line string";
  };

  # nixos/lib/systemd-unit-options.nix unitOption: lists concatenate, other values must be equal.
  unitScalar = v: builtins.isBool v || builtins.isInt v || builtins.isString v || builtins.isPath v || lib.isDerivation v;
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check = v: unitScalar v || (builtins.isList v && builtins.all unitScalar v);
    merge =
      loc: defs:
      if builtins.any (d: builtins.isList d.value) defs then
        lib.concatMap (d: lib.toList d.value) defs
      else
        lib.mergeEqualOption loc defs;
  };
  # nixos/lib/systemd-lib.nix checkUnitConfig "Service": the values systemd.service(5) allows.
  oneOfOrUnset =
    attr: values: cfg:
    !(cfg ? ${attr}) || builtins.elem cfg.${attr} values;
  checkService =
    cfg:
    oneOfOrUnset "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ] cfg
    && oneOfOrUnset "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "on-watchdog"
      "always"
    ] cfg;

  userModule =
    { name, ... }:
    {
      options = {
        name = opt (types.passwdEntry types.str) name;
        description = opt (types.passwdEntry types.str) "";
        home = opt (types.passwdEntry types.path) "/var/empty";
        isSystemUser = bool;
        isNormalUser = bool;
        group = opt types.str "";
        extraGroups = strs;
        uid = opt (types.nullOr types.int) null;
        createHome = bool;
        shell = opt (types.nullOr (types.either types.package (types.passwdEntry types.path))) "/run/current-system/sw/bin/nologin";
        hashedPassword = opt (types.nullOr (types.passwdEntry types.str)) null;
        openssh.authorizedKeys = {
          keys = opt (types.listOf singleLineStr) [ ];
          keyFiles = opt (types.listOf types.path) [ ];
        };
      };
    };

  groupModule =
    { name, ... }:
    {
      options = {
        name = opt (types.passwdEntry types.str) name;
        gid = opt (types.nullOr types.int) null;
        members = opt (types.listOf (types.passwdEntry types.str)) [ ];
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

  # services/monitoring/prometheus/default.nix (25.11): scrapeConfigs is a list of a closed submodule;
  # every key is optional (null) but job_name, and nulls are dropped before prometheus.yml is written.
  nullOpt = type: opt (types.nullOr type) null;
  staticConfigModule = {
    options = {
      targets = opt (types.listOf types.str) [ ];
      labels = nullOpt (types.attrsOf types.str);
    };
  };
  sdConfigs = [
    "azure_sd_configs"
    "consul_sd_configs"
    "digitalocean_sd_configs"
    "docker_sd_configs"
    "dockerswarm_sd_configs"
    "dns_sd_configs"
    "ec2_sd_configs"
    "eureka_sd_configs"
    "file_sd_configs"
    "gce_sd_configs"
    "hetzner_sd_configs"
    "http_sd_configs"
    "kubernetes_sd_configs"
    "kuma_sd_configs"
    "lightsail_sd_configs"
    "linode_sd_configs"
    "marathon_sd_configs"
    "nerve_sd_configs"
    "openstack_sd_configs"
    "puppetdb_sd_configs"
    "scaleway_sd_configs"
    "serverset_sd_configs"
    "triton_sd_configs"
    "uyuni_sd_configs"
  ];
  tlsConfigModule = {
    options = {
      ca_file = nullStr;
      cert_file = nullStr;
      key_file = nullStr;
      server_name = nullStr;
      insecure_skip_verify = nullOpt types.bool;
    };
  };
  scrapeConfigModule = {
    options = {
      job_name = mkOption { type = types.str; };
      scheme = nullOpt (
        types.enum [
          "http"
          "https"
        ]
      );
      metrics_path = nullStr;
      params = nullOpt (types.attrsOf (types.listOf types.str));
      proxy_url = nullStr;
      scrape_interval = nullStr;
      scrape_timeout = nullStr;
      scrape_protocols = nullOpt (types.listOf types.str);
      fallback_scrape_protocol = nullStr;
      honor_labels = nullOpt types.bool;
      honor_timestamps = nullOpt types.bool;
      static_configs = nullOpt (types.listOf (types.submodule staticConfigModule));
      relabel_configs = nullOpt (types.listOf types.attrs);
      metric_relabel_configs = nullOpt (types.listOf types.attrs);
      tls_config = nullOpt (types.submodule tlsConfigModule);
      basic_auth = nullOpt types.attrs;
      authorization = nullOpt types.attrs;
      bearer_token = nullStr;
      bearer_token_file = nullStr;
      body_size_limit = nullStr;
      sample_limit = nullOpt types.int;
      label_limit = nullOpt types.int;
      label_name_length_limit = nullOpt types.int;
      label_value_length_limit = nullOpt types.int;
      target_limit = nullOpt types.int;
    }
    // lib.genAttrs sdConfigs (_: nullOpt (types.listOf types.attrs));
  };

  serviceModule = {
    options = {
      enable = opt types.bool true;
      description = opt singleLineStr "";
      documentation = strs;
      wantedBy = strs;
      requiredBy = strs;
      upheldBy = strs;
      wants = strs;
      requires = strs;
      upholds = strs;
      after = strs;
      before = strs;
      bindsTo = strs;
      partOf = strs;
      conflicts = strs;
      restartTriggers = opt (types.listOf types.anything) [ ];
      reloadTriggers = opt (types.listOf unitOption) [ ];
      restartIfChanged = opt types.bool true;
      reloadIfChanged = bool;
      stopIfChanged = opt types.bool true;
      environment = opt (types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]))) { };
      path = opt (types.listOf (types.either types.package types.str)) [ ];
      script = opt types.lines "";
      preStart = opt types.lines "";
      postStart = opt types.lines "";
      unitConfig = opt (types.attrsOf unitOption) { };
      serviceConfig = opt (types.addCheck (types.attrsOf unitOption) checkService // {
        description = "attribute set of systemd options whose Type and Restart are values systemd.service(5) allows";
      }) { };
      startLimitBurst = opt (types.nullOr types.int) null;
      startLimitIntervalSec = opt (types.nullOr types.int) null;
    };
  };

  etcModule =
    { name, config, ... }:
    {
      options = {
        enable = opt types.bool true;
        target = opt types.str name;
        text = opt (types.nullOr types.lines) null;
        source = opt types.path (builtins.toFile (baseNameOf name) config.text);
        mode = opt types.str "symlink";
        user = opt types.str "+0";
        group = opt types.str "+0";
      };
    };

  # sshd.nix settings: freeform, with the options NixOS declares that a module might set.
  sshdSettingsModule = {
    freeformType = types.attrsOf (
      types.nullOr (
        types.oneOf [
          types.bool
          types.int
          types.str
          (types.listOf types.str)
        ]
      )
    );
    options = {
      PasswordAuthentication = opt types.bool true;
      KbdInteractiveAuthentication = opt types.bool true;
      PermitRootLogin = opt (types.enum [
        "yes"
        "without-password"
        "prohibit-password"
        "forced-commands-only"
        "no"
      ]) "prohibit-password";
      X11Forwarding = bool;
      UseDns = bool;
      LogLevel = opt types.str "INFO";
      GatewayPorts = opt types.str "no";
      AllowUsers = opt (types.nullOr (types.listOf types.str)) null;
    };
  };

  # services/monitoring/prometheus/exporters.nix: options every exporter has, as `exporters.node` has them.
  nodeExporterOptions = {
    enable = bool;
    port = opt types.port 9100;
    listenAddress = opt types.str "0.0.0.0";
    openFirewall = bool;
    enabledCollectors = strs;
    disabledCollectors = strs;
    extraFlags = strs;
    user = opt types.str "node-exporter";
    group = opt types.str "node-exporter";
  };

  cfg = config;
  ssh = cfg.services.openssh;
  prom = cfg.services.prometheus;
  node = prom.exporters.node;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);

  # services/monitoring/prometheus/default.nix filterValidPrometheus: nulls go before writing the YAML.
  dropNulls =
    v:
    if builtins.isAttrs v then
      lib.mapAttrs (_: dropNulls) (lib.filterAttrs (_: x: x != null) v)
    else if builtins.isList v then
      map dropNulls v
    else
      v;
  showSshValue = v: if builtins.isBool v then (if v then "yes" else "no") else if builtins.isList v then lib.concatStringsSep "," v else toString v;
in
{
  imports = [
    # programs/ssh.nix
    (lib.mkAliasOptionModule [ "services" "openssh" "knownHosts" ] [ "programs" "ssh" "knownHosts" ])
  ];

  options = {
    assertions = opt (types.listOf types.attrs) [ ];
    warnings = strs;

    networking = {
      hostName = opt types.str "nixos";
      enableIPv6 = opt types.bool true;
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

    programs.ssh.knownHosts = opt (types.attrsOf (types.submodule knownHostModule)) { };

    services.openssh = {
      enable = bool;
      ports = opt (types.listOf types.port) [ 22 ];
      openFirewall = opt types.bool true;
      hostKeys = opt (types.listOf types.attrs) [ ];
      settings = opt (types.submodule sshdSettingsModule) { };
      extraConfig = opt types.lines "";
    };

    services.prometheus = {
      enable = bool;
      port = opt types.port 9090;
      listenAddress = opt types.str "0.0.0.0";
      checkConfig = opt (types.either types.bool (types.enum [ "syntax-only" ])) true;
      globalConfig = opt (types.attrsOf types.anything) { };
      scrapeConfigs = opt (types.listOf (types.submodule scrapeConfigModule)) [ ];
      ruleFiles = opt (types.listOf types.path) [ ];
      exporters.node = nodeExporterOptions;
    };

    # Each its own option, so a failed assertion throws only when toplevel is asked for (NixOS' system.build
    # is lazyAttrsOf).
    system.build = {
      toplevel = mkOption { type = types.anything; };
      prometheusConfig = mkOption { type = types.anything; };
    };
  };

  config = lib.mkMerge [
    {
      # config/users-groups.nix: the accounts every NixOS system has.
      users.users.root = {
        uid = 0;
        description = "System administrator";
        home = "/root";
        group = "root";
      };
      users.groups.root.gid = 0;

      # config/users-groups.nix (25.11)
      assertions =
        lib.concatMap (
          u:
          [
            {
              assertion =
                let
                  isEffectivelySystemUser = u.isSystemUser || (u.uid != null && u.uid < 1000);
                in
                isEffectivelySystemUser != u.isNormalUser;
              message = "Exactly one of users.users.${u.name}.isSystemUser and users.users.${u.name}.isNormalUser must be set.";
            }
            {
              assertion = u.group != "";
              message = "users.users.${u.name}.group is unset. This used to default to nogroup, but this is unsafe.";
            }
          ]
        ) (lib.attrValues cfg.users.users)
        # programs/ssh.nix
        ++ lib.mapAttrsToList (name: h: {
          assertion = (h.publicKey == null) != (h.publicKeyFile == null);
          message = "knownHost ${name} must contain either a publicKey or publicKeyFile";
        }) cfg.programs.ssh.knownHosts;

      # programs/ssh.nix: one line per entry.
      environment.etc."ssh/ssh_known_hosts".text = lib.concatStrings (
        lib.mapAttrsToList (
          _: h:
          (if h.certAuthority then "@cert-authority " else "")
          + lib.concatStringsSep "," h.hostNames
          + " "
          + (if h.publicKey != null then h.publicKey else builtins.readFile h.publicKeyFile)
          + "\n"
        ) cfg.programs.ssh.knownHosts
      );

      system.build.toplevel =
        if failed != [ ] then
          throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
        else
          pkgs.runCommand "nixos-system-${cfg.networking.hostName}-stub" {
            units = builtins.toJSON (lib.mapAttrs (_: s: s.serviceConfig) cfg.systemd.services);
          } "exit 1";
      # What services/monitoring/prometheus writes as prometheus.yml (as JSON, which is YAML) and hands to
      # `promtool check config` when checkConfig is true.
      system.build.prometheusConfig = dropNulls {
        global = prom.globalConfig;
        scrape_configs = prom.scrapeConfigs;
        # Each file wrapped in a `promtool check rules` derivation when checkConfig is on (not built here).
        rule_files = prom.ruleFiles;
      };
    }

    # services/networking/ssh/sshd.nix
    (lib.mkIf ssh.enable {
      users.users.sshd = {
        isSystemUser = true;
        group = "sshd";
        description = "SSH privilege separation user";
      };
      users.groups.sshd = { };
      services.openssh.extraConfig = lib.mkOrder 0 (
        lib.concatStringsSep "\n" (
          [ "AddressFamily ${if cfg.networking.enableIPv6 then "any" else "inet"}" ]
          ++ map (p: "Port ${toString p}") ssh.ports
          ++ map (k: "HostKey ${k.path}") ssh.hostKeys
        )
      );
      environment.etc."ssh/sshd_config".text =
        lib.concatStrings (
          lib.mapAttrsToList (k: v: lib.optionalString (v != null) "${k} ${showSshValue v}\n") ssh.settings
        )
        + ssh.extraConfig
        + "\n";
    })

    # services/monitoring/prometheus/default.nix
    (lib.mkIf prom.enable {
      users.groups.prometheus.gid = 255;
      users.users.prometheus = {
        description = "Prometheus daemon user";
        uid = 255;
        group = "prometheus";
      };
      systemd.services.prometheus = {
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          User = "prometheus";
          Restart = "always";
        };
      };
    })

    # services/monitoring/prometheus/exporters.nix + exporters/node.nix
    (lib.mkIf node.enable {
      systemd.services.prometheus-node-exporter = {
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          DynamicUser = true;
          User = node.user;
          Group = node.group;
          Restart = "always";
          ExecStart = lib.concatStringsSep " " (
            [
              "${pkgs.prometheus-node-exporter}/bin/node_exporter"
              "--web.listen-address ${node.listenAddress}:${toString node.port}"
            ]
            ++ map (c: "--collector.${c}") node.enabledCollectors
            ++ map (c: "--no-collector.${c}") node.disabledCollectors
            ++ node.extraFlags
          );
        };
      };
      networking.firewall.allowedTCPPorts = lib.mkIf node.openFirewall [ node.port ];
    })
  ];
}
