# services.sshscrape: the monitoring host. Runs the proxy Prometheus reaches through `proxy_url`, and
# (optionally) fills in known_hosts and Prometheus scrape jobs from the same target options.
# This file is the one definition of the monitoring side's NixOS configuration: `sshscrape generate` writes
# values for these options (and, with --out, a byte-identical copy of this file), never a unit of its own.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.sshscrape;

  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  json = pkgs.formats.json { };

  # RFC 3986 §3.2.2: an IPv6 literal in host:port form is bracketed.
  joinHostPort = host: port: if lib.hasInfix ":" host then "[${host}]:${toString port}" else "${host}:${toString port}";

  # ssh_known_hosts(5) / sshd(8): a host on a non-default port is written "[host]:port".
  knownHostName = host: port: if port == 22 then host else "[${host}]:${toString port}";

  unitName = "sshscrape";
  systemKnownHosts = "/etc/ssh/ssh_known_hosts";
  # Host keys reach the proxy through NixOS' known_hosts only when it reads that file; otherwise they go
  # into its config file.
  viaKnownHosts = cfg.knownHosts.enable && cfg.knownHostsFile == systemKnownHosts;
  # The /etc file the proxy's known_hosts is, if NixOS writes it: a change reloads the proxy (SIGHUP).
  knownHostsEtc = lib.removePrefix "/etc/" cfg.knownHostsFile;
  knownHostsSource = lib.optional (
    lib.hasPrefix "/etc/" cfg.knownHostsFile && etc ? ${knownHostsEtc}
  ) etc.${knownHostsEtc}.source;

  # DNS names (labels of letters, digits, "-" and "_"), IPv4, or IPv6 without brackets: what the proxy's
  # validator accepts (src/config/host.ts).
  isHost =
    h:
    builtins.match "([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)([.][A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*[.]?" h != null
    || builtins.match "[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*" h != null;
  isLoopback = a: a == "::1" || a == "localhost" || lib.hasPrefix "127." a;
  # systemd.exec(5) "Credentials": LoadCredential= files appear under $CREDENTIALS_DIRECTORY, which is
  # /run/credentials/UNIT. The proxy config names the path so the file validates on its own; ExecStart
  # passes the same file as --key-file via the variable.
  credentialsDir = "/run/credentials/${unitName}.service";
  # One credential per distinct key file; the ID must not contain ":" or "/" (LoadCredential=ID:PATH).
  credentialId = keyFile: "ssh-key-${builtins.substring 0 12 (builtins.hashString "sha256" keyFile)}";

  nonEmpty = attrs: lib.filterAttrs (_: v: v != null && v != { } && v != [ ]) attrs;

  exporterModule = {
    options = {
      port = mkOption {
        type = types.port;
        description = "Port of the exporter on the target's loopback (`ssh.remoteAddress`).";
      };
      scheme = mkOption {
        type = types.enum [
          "http"
          "https"
        ];
        default = "http";
        description = "Scrape scheme; `https` is tunnelled with CONNECT and TLS runs end to end.";
      };
      metricsPath = mkOption {
        type = types.str;
        default = "/metrics";
        description = "HTTP path of the metrics endpoint.";
      };
      params = mkOption {
        type = types.attrsOf (types.nonEmptyListOf types.str);
        default = { };
        example = lib.literalExpression ''{ module = [ "http_2xx" ]; }'';
        description = "URL parameters of the scrape (the job's `params`, e.g. for blackbox or snmp exporters). With `scrapeConfigs.discovery = \"http\"` each travels as one `__param_<name>` label, so it may have one value only.";
      };
      labels = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = "Labels added to this exporter's targets in the scrape job.";
      };
      extraMethods = mkOption {
        type = types.listOf (
          types.enum [
            "POST"
            "PUT"
            "PATCH"
            "DELETE"
          ]
        );
        default = [ ];
        example = [ "POST" ];
        description = "Methods the proxy forwards to this exporter besides GET and HEAD (e.g. POST for a pushgateway's API); Prometheus only sends GET (docs/security.md).";
      };
      scrapeInterval = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "30s";
        description = "`scrape_interval` of this exporter's job (null: Prometheus' or `scrapeConfigs.scrapeInterval`).";
      };
      scrapeTimeout = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "10s";
        description = "`scrape_timeout` of this exporter's job; the proxy fits its SSH timeouts inside it.";
      };
      # Prometheus verifies the exporter's certificate itself (TLS runs end to end through CONNECT), so these
      # become the job's `tls_config`; only for `scheme = "https"`.
      tls = {
        caFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/etc/ssl/exporters-ca.pem";
          description = "`tls_config.ca_file`: CA certificate(s) the exporter's certificate must chain to (null: the system store).";
        };
        serverName = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "`tls_config.server_name`: name the certificate must carry (null: the target's host).";
        };
        insecureSkipVerify = mkOption {
          type = types.bool;
          default = false;
          description = "`tls_config.insecure_skip_verify`: accept any certificate.";
        };
      };
    };
  };

  jumpModule = {
    options = {
      host = mkOption {
        type = types.str;
        description = "Jump host (ProxyJump) the SSH connection to the target goes through.";
      };
      port = mkOption {
        type = types.port;
        default = 22;
        description = "SSH port of the jump host.";
      };
      user = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "SSH user on the jump host (null: the target's SSH user).";
      };
      hostKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Public host keys of the jump host, added to known_hosts like the target's `hostKeys`.";
      };
    };
  };

  targetModule =
    { name, ... }:
    {
      options = {
        host = mkOption {
          type = types.str;
          default = name;
          defaultText = literalExpression "<name>";
          description = "DNS name or IP address the proxy connects to over SSH (and Prometheus' target host).";
        };
        hostKeys = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA…" ];
          description = "The target's public SSH host keys (`ssh-keyscan`, or `sshscrape keyscan`).";
        };
        ssh = {
          user = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "SSH user for this target (null: `services.sshscrape.ssh.user`).";
          };
          port = mkOption {
            type = types.nullOr types.port;
            default = null;
            description = "SSH port for this target (null: `services.sshscrape.ssh.port`).";
          };
          keyFile = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "Private key for this target (null: `services.sshscrape.ssh.keyFile`); a runtime path.";
          };
          remoteAddress = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "Exporter address on the target (null: `services.sshscrape.ssh.remoteAddress`).";
          };
          jump = mkOption {
            type = types.nullOr (types.submodule jumpModule);
            default = null;
            description = "Reach this target through a jump host.";
          };
        };
        labels = mkOption {
          type = types.attrsOf types.str;
          default = { };
          description = "Labels added to every exporter of this target.";
        };
        exporters = mkOption {
          type = types.attrsOf (types.submodule exporterModule);
          default = { };
          example = literalExpression "{ node.port = 9100; }";
          description = "Exporters on this target; the attribute name is the Prometheus job name.";
        };
      };
    };

  targetList = lib.mapAttrsToList (name: t: t // { inherit name; }) cfg.targets;

  # How long ExecStartPost waits for /readyz: the proxy's own limit for preconnecting every host
  # (src/proxy/readiness.ts readyLimitMs: 60 s + 50 ms per host, rounded up, at most 240 s) plus 10 s.
  readyLimitSeconds = 60 + (lib.length targetList + 19) / 20;
  readyWaitSeconds = 10 + (if readyLimitSeconds > 240 then 240 else readyLimitSeconds);

  # Key files in order: the default first, then each distinct per-target file.
  targetKeyFiles = lib.unique (lib.filter (f: f != null) (map (t: t.ssh.keyFile) targetList));

  # The proxy's config: the same target-list format the CLI reads (src/config/schema.ts), with exporters as
  # a list. Options left null are left out so the proxy's own defaults apply.
  derivedSettings = lib.optionalAttrs (cfg.shard != null) { shards = { inherit (cfg.shard) count index; }; }
  // {
    proxy = {
      listen = joinHostPort cfg.listenAddress cfg.port;
      inherit (cfg) user group knownHostsFile;
    }
    // lib.optionalAttrs (cfg.allow != [ ]) { inherit (cfg) allow; };
    ssh = {
      inherit (cfg.ssh) user port remoteAddress;
      key.path = "${credentialsDir}/ssh-key";
    };
    defaults = nonEmpty {
      inherit (cfg.scrapeConfigs) scrapeInterval scrapeTimeout labels;
    };
    targets = map (
      t:
      nonEmpty {
        inherit (t) host labels;
        # With knownHosts.enable the keys reach the proxy through known_hosts only, so a changed key means a
        # new known_hosts (reload, SIGHUP) rather than a new config file (restart).
        hostKeys = if viaKnownHosts then [ ] else t.hostKeys;
        ssh = nonEmpty {
          inherit (t.ssh) user port remoteAddress;
          key = if t.ssh.keyFile == null then null else { path = "${credentialsDir}/${credentialId t.ssh.keyFile}"; };
          jump =
            if t.ssh.jump == null then
              null
            else
              nonEmpty {
                inherit (t.ssh.jump) host port user;
                hostKeys = if viaKnownHosts then [ ] else t.ssh.jump.hostKeys;
              };
        };
        exporters = lib.mapAttrsToList (
          name: e:
          nonEmpty {
            inherit name;
            inherit (e)
              port
              scheme
              metricsPath
              params
              labels
              scrapeInterval
              scrapeTimeout
              extraMethods
              ;
            # As the CLI's list has it; the proxy validates it and Prometheus uses it (tls_config).
            tls = nonEmpty {
              inherit (e.tls) caFile serverName;
              insecureSkipVerify = if e.tls.insecureSkipVerify then true else null;
            };
          }
        ) t.exporters;
      }
    ) targetList;
  };

  merged = lib.recursiveUpdate derivedSettings cfg.settings;
  # Other files the proxy reads that may be root-only secrets: credentials as well, the config naming
  # where systemd puts them.
  secretFiles = lib.filterAttrs (_: f: f != null) {
    "ssh-key-passphrase" = merged.ssh.passphraseFile or null;
    "proxy-password" = merged.proxy.auth.passwordFile or null;
  };
  finalSettings = lib.recursiveUpdate merged (
    lib.optionalAttrs (secretFiles ? "ssh-key-passphrase") {
      ssh.passphraseFile = "${credentialsDir}/ssh-key-passphrase";
    }
    // lib.optionalAttrs (secretFiles ? "proxy-password") {
      proxy.auth.passwordFile = "${credentialsDir}/proxy-password";
    }
  );
  settingsFile = json.generate "sshscrape.json" finalSettings;
  # Checked at build time by the proxy's own loader and validator (as nixpkgs runs `promtool check config`
  # on Prometheus' file): a setting the proxy would refuse at start fails `nixos-rebuild` with its message.
  configFile =
    if cfg.checkConfig then
      pkgs.runCommand "sshscrape-checked.json" { nativeBuildInputs = [ cfg.package ]; } ''
        cp ${settingsFile} sshscrape.json
        ${lib.getExe cfg.package} generate sshscrape.json --format file-sd > /dev/null
        cp sshscrape.json "$out"
      ''
    else
      settingsFile;

  # known_hosts: one entry per key (`publicKey` holds exactly one), for targets and their jump hosts.
  knownHostEntries = lib.concatMap (
    t:
    let
      port = if t.ssh.port != null then t.ssh.port else cfg.ssh.port;
      entries =
        prefix: host: port: keys:
        lib.imap0 (i: key: {
          name = "sshscrape-${prefix}-${toString i}";
          value = {
            hostNames = [ (knownHostName host port) ];
            publicKey = key;
          };
        }) keys;
    in
    entries t.name t.host port t.hostKeys
    ++ lib.optionals (t.ssh.jump != null) (
      entries "${t.name}-jump" t.ssh.jump.host t.ssh.jump.port t.ssh.jump.hostKeys
    )
  ) targetList;

  # Prometheus: one job per exporter name, one static_config per target.
  exporterUses = lib.concatMap (
    t:
    lib.mapAttrsToList (job: e: {
      inherit job e;
      target = t;
    }) t.exporters
  ) targetList;
  jobNames = lib.unique (map (u: u.job) exporterUses);
  usesOf = job: lib.filter (u: u.job == job) exporterUses;
  # Settings a Prometheus job has once; exporters sharing a name must agree on them.
  jobShape = e: {
    inherit (e) scheme metricsPath params scrapeInterval scrapeTimeout;
    tls = tlsConfig e;
  };

  # Prometheus' tls_config keys, as services.prometheus.scrapeConfigs declares them.
  tlsConfig =
    e:
    lib.filterAttrs (_: v: v != null) {
      ca_file = e.tls.caFile;
      server_name = e.tls.serverName;
      insecure_skip_verify = if e.tls.insecureSkipVerify then true else null;
    };

  # Prometheus reaches a wildcard listener on loopback.
  proxyUrl =
    let
      host =
        if cfg.listenAddress == "0.0.0.0" then
          "127.0.0.1"
        else if cfg.listenAddress == "::" then
          "::1"
        else
          cfg.listenAddress;
    in
    "http://${joinHostPort host cfg.port}";

  # Sharding (docs/scaling.md): Prometheus' hashmod over the host part of __address__, the function the proxy
  # uses to allow and preconnect only its own shard's hosts (src/config/shard.ts). hashmod takes no regex,
  # hence the copy into a temporary label first.
  shardRelabel = lib.optionals (cfg.shard != null && cfg.shard.count > 1) [
    {
      source_labels = [ "__address__" ];
      regex = "(.+):[0-9]+";
      target_label = "__tmp_sshscrape_host";
      replacement = "$1";
      action = "replace";
    }
    {
      source_labels = [ "__tmp_sshscrape_host" ];
      modulus = cfg.shard.count;
      target_label = "__tmp_sshscrape_shard";
      action = "hashmod";
    }
    {
      source_labels = [ "__tmp_sshscrape_shard" ];
      regex = toString cfg.shard.index;
      action = "keep";
    }
  ];

  scrapeConfig =
    job:
    let
      uses = usesOf job;
      e = (builtins.head uses).e;
      interval = if e.scrapeInterval != null then e.scrapeInterval else cfg.scrapeConfigs.scrapeInterval;
      timeout = if e.scrapeTimeout != null then e.scrapeTimeout else cfg.scrapeConfigs.scrapeTimeout;
    in
    {
      job_name = "${cfg.scrapeConfigs.jobNamePrefix}${job}";
      inherit (e) scheme;
      metrics_path = e.metricsPath;
      proxy_url = proxyUrl;
    }
    // lib.optionalAttrs (cfg.scrapeConfigs.discovery == "http") {
      # The targets come from the proxy's GET /sd; without `job` there, they take this job's job_name.
      http_sd_configs = [
        (
          { url = "${proxyUrl}/sd?job=${job}"; }
          // lib.optionalAttrs (cfg.scrapeConfigs.scrapeInterval != null) {
            refresh_interval = cfg.scrapeConfigs.scrapeInterval;
          }
          # /sd answers only with proxy.auth's credentials; prometheus must be able to read the file.
          // lib.optionalAttrs ((cfg.settings.proxy or { }) ? auth) {
            basic_auth = {
              inherit (cfg.settings.proxy.auth) username;
              password_file = cfg.settings.proxy.auth.passwordFile;
            };
          }
        )
      ];
    }
    // lib.optionalAttrs (cfg.scrapeConfigs.discovery == "static") {
      static_configs = map (
        u:
        {
          targets = [ (joinHostPort u.target.host u.e.port) ];
        }
        // (
          let
            labels = cfg.scrapeConfigs.labels // u.target.labels // u.e.labels;
          in
          lib.optionalAttrs (labels != { }) { inherit labels; }
        )
      ) uses;
    }
    // lib.optionalAttrs (e.params != { }) { inherit (e) params; }
    // lib.optionalAttrs (shardRelabel != [ ]) { relabel_configs = shardRelabel; }
    // lib.optionalAttrs (interval != null) { scrape_interval = interval; }
    // lib.optionalAttrs (timeout != null) { scrape_timeout = timeout; }
    // lib.optionalAttrs (tlsConfig e != { }) { tls_config = tlsConfig e; };

  etc = config.environment.etc;

  endpoints = map (u: joinHostPort u.target.host u.e.port) exporterUses;

  execArgs = utils.escapeSystemdExecArgs;
in
{
  options.services.sshscrape = {
    enable = mkEnableOption "sshscrape, the Prometheus forward proxy that scrapes exporters over SSH";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage \"\${sshscrape}/nix/package.nix\" { }";
      description = "The sshscrape package.";
    };

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address the proxy listens on; Prometheus' `proxy_url` points here.";
    };

    port = mkOption {
      type = types.port;
      default = 8888;
      description = "Port the proxy listens on.";
    };

    user = mkOption {
      type = types.str;
      default = "sshscrape";
      description = ''
        User the proxy runs as. The module creates it (a system user) only when left at "sshscrape"; any
        other user must exist already (e.g. "prometheus").
      '';
    };

    group = mkOption {
      type = types.str;
      default = "sshscrape";
      description = "Group the proxy runs as; created by this module only when left at \"sshscrape\".";
    };

    ssh = {
      user = mkOption {
        type = types.str;
        default = "sshscrape";
        description = "SSH user on the targets (`services.sshscrape-target.user` there).";
      };
      port = mkOption {
        type = types.port;
        default = 22;
        description = "SSH port of the targets.";
      };
      keyFile = mkOption {
        type = types.str;
        example = literalExpression "config.sops.secrets.sshscrape-ssh-key.path";
        description = ''
          Run-time path of the SSH private key (a sops-nix or agenix secret path, or a plain file readable
          by root). It never enters the Nix store: systemd hands it to the unit with
          `LoadCredential=ssh-key:PATH`, so the file may stay root-only.
        '';
      };
      remoteAddress = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = ''
          Address of the exporters as seen from each target. Must be the same string as the targets'
          `permitopen` (`services.sshscrape-target.remoteAddress`): sshd compares it literally.
        '';
      };
    };

    knownHostsFile = mkOption {
      type = types.str;
      default = "/etc/ssh/ssh_known_hosts";
      description = "known_hosts file the proxy checks host keys against; the proxy reloads on SIGHUP.";
    };

    allow = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "*.internal.example.org:9100" ];
      description = "Extra `HOST:PORT` patterns (`*`, `?` wildcards) the proxy forwards to besides the targets.";
    };

    targets = mkOption {
      type = types.attrsOf (types.submodule targetModule);
      default = { };
      example = literalExpression ''
        {
          "web1.example.org" = {
            hostKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA…" ];
            exporters.node.port = 9100;
          };
        }
      '';
      description = "Hosts to scrape; the attribute name is the default `host`.";
    };

    shard = mkOption {
      type = types.nullOr (
        types.submodule {
          options = {
            count = mkOption {
              type = types.int;
              description = "Number of shards the target list is split into (each a Prometheus with its own proxy).";
            };
            index = mkOption {
              type = types.int;
              default = 0;
              description = "This host's shard, 0 … count - 1.";
            };
          };
        }
      );
      default = null;
      example = literalExpression "{ count = 2; index = 1; }";
      description = ''
        Scrape only shard `index` of `count`: the proxy allows and preconnects only that shard's hosts, and
        the generated jobs keep only its targets (Prometheus `hashmod` on each target's host). Give every shard
        the same `targets`; see docs/scaling.md.
      '';
    };

    knownHosts.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Add each target's `hostKeys` to `services.openssh.knownHosts`.";
    };

    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the proxy's config file, checked when checkConfig is true";
      description = "The config file the unit's proxy reads (derived from the options above and `settings`).";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Check the proxy's config file at build time with the proxy's own validator (`sshscrape generate
        FILE --format file-sd`), so a setting the proxy refuses fails the build instead of the unit.
      '';
    };

    scrapeConfigs = {
      discovery = mkOption {
        type = types.enum [
          "static"
          "http"
        ];
        default = "static";
        description = ''
          `static`: the jobs list their targets. `http`: they read them from the proxy's `/sd?job=NAME`
          (`http_sd_configs`, refreshed every `scrapeInterval`), so a change of `targets` reloads the proxy and
          leaves prometheus.yml alone.
        '';
      };
      jobNamePrefix = mkOption {
        type = types.str;
        default = "sshscrape-";
        example = "";
        description = ''
          Put in front of each exporter name to make the job name (`sshscrape-node`), so the generated jobs
          coexist with the host's own `node`, `prometheus`, … jobs: Prometheus refuses two jobs with one
          `job_name`, and NixOS checks that at build time (`services.prometheus.checkConfig`).
        '';
      };
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Add one `services.prometheus.scrapeConfigs` job per exporter name, with `proxy_url` set.";
      };
      scrapeInterval = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "`scrape_interval` of the generated jobs (null: Prometheus' global one).";
      };
      scrapeTimeout = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "`scrape_timeout` of the generated jobs (null: Prometheus' global one).";
      };
      labels = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = "Labels added to every generated target.";
      };
    };

    # docs/alerting.md: the rules read the proxy's own series, so they come with the job that scrapes them.
    alertRules = {
      enable = mkEnableOption ''
        sshscrape's Prometheus alerting and recording rules (`alertRules.file`, added to
        `services.prometheus.ruleFiles`) and the job `sshscrape` in `services.prometheus.scrapeConfigs` that
        scrapes the proxy's own `/metrics`, which the rules read
      '';
      # From the package, not a path beside this file: the module is also used as a copy outside the source.
      file = mkOption {
        type = types.path;
        default = "${cfg.package}/lib/node_modules/sshscrape/rules/sshscrape.rules.yml";
        defaultText = literalExpression ''"''${config.services.sshscrape.package}/lib/node_modules/sshscrape/rules/sshscrape.rules.yml"'';
        description = "The rules file: the one the package ships, or your edited copy of it.";
      };
    };

    settings = mkOption {
      type = json.type;
      default = { };
      example = literalExpression ''{ proxy.timeout = "20s"; proxy.idleTimeout = "10m"; }'';
      description = ''
        Merged (recursively, lists replaced) over the target list this module derives from its options, and
        written as the proxy's config file: the same format as the CLI's target list (`sshscrape schema`).
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra command-line arguments for `sshscrape proxy`.";
    };
  };

  config = mkIf cfg.enable {
    assertions =
      [
        {
          assertion = cfg.targets != { };
          message = "services.sshscrape.targets is empty: add at least one target to scrape.";
        }
        {
          assertion =
            cfg.shard == null
            || (cfg.shard.count >= 1 && cfg.shard.index >= 0 && cfg.shard.index < cfg.shard.count);
          message = "services.sshscrape.shard: expected count ≥ 1 and 0 ≤ index < count (shards are numbered 0 … count - 1).";
        }
        {
          assertion =
            cfg.alertRules.enable && cfg.scrapeConfigs.enable
            -> !(lib.elem "sshscrape" (map (job: "${cfg.scrapeConfigs.jobNamePrefix}${job}") jobNames));
          message = "services.sshscrape.alertRules.enable adds the Prometheus job \"sshscrape\" for the proxy's own metrics, and services.sshscrape.scrapeConfigs.jobNamePrefix + an exporter's name makes \"sshscrape\" too: rename that exporter or change the prefix.";
        }
        {
          assertion =
            isLoopback cfg.listenAddress
            || (cfg.settings.proxy or { }) ? auth
            || builtins.elem "--allow-non-loopback" cfg.extraArgs;
          message = "services.sshscrape.listenAddress = \"${cfg.listenAddress}\" is not a loopback address and services.sshscrape.settings.proxy.auth is unset: anyone who reaches it could use the proxy. Set services.sshscrape.settings.proxy.auth, or keep listenAddress on loopback.";
        }
        {
          assertion = config.users.users ? ${cfg.user} && config.users.groups ? ${cfg.group};
          message = "services.sshscrape.user = \"${cfg.user}\" / group = \"${cfg.group}\": not declared in users.users / users.groups. This module creates only the default \"sshscrape\" account; declare yours, or leave user and group at \"sshscrape\".";
        }
        {
          assertion = lib.length endpoints == lib.length (lib.unique endpoints);
          message = "services.sshscrape.targets: two exporters scrape the same host:port (${
            lib.concatStringsSep ", " (lib.unique (lib.filter (e: lib.count (x: x == e) endpoints > 1) endpoints))
          }); the proxy refuses duplicate targets. Remove one.";
        }
      ]
      ++ lib.concatMap (
        t:
        let
          opt = "services.sshscrape.targets.${lib.strings.escapeNixIdentifier t.name}";
        in
        [
          {
            assertion = isHost t.host;
            message = "${opt}.host = \"${t.host}\" is not a host name or IP address; set ${opt}.host, or name the target after its host.";
          }
          {
            assertion = t.exporters != { };
            message = "${opt}.exporters is empty: add at least one exporter, e.g. `${opt}.exporters.node.port = 9100;`.";
          }
          {
            assertion = viaKnownHosts -> t.hostKeys != [ ];
            message = "${opt}.hostKeys is empty while services.sshscrape.knownHosts.enable is true: add the target's host keys (`ssh-keyscan ${t.host}`), or set services.sshscrape.knownHosts.enable = false and provide services.sshscrape.knownHostsFile yourself.";
          }
          {
            assertion = viaKnownHosts && t.ssh.jump != null -> t.ssh.jump.hostKeys != [ ];
            message = "${opt}.ssh.jump.hostKeys is empty while services.sshscrape.knownHosts.enable is true: add the jump host's host keys.";
          }
        ]
        ++ lib.mapAttrsToList (name: e: {
          assertion = e.port != 0;
          message = "${opt}.exporters.${lib.strings.escapeNixIdentifier name}.port is 0: set the exporter's real port (1-65535).";
        }) t.exporters
        ++ lib.mapAttrsToList (name: e: {
          # The proxy's /sd carries a parameter as one __param_<name> label, which replaces the job's list.
          assertion =
            cfg.scrapeConfigs.discovery == "http" -> lib.all (vs: lib.length vs == 1) (lib.attrValues e.params);
          message = "${opt}.exporters.${lib.strings.escapeNixIdentifier name}.params: with services.sshscrape.scrapeConfigs.discovery = \"http\" each parameter travels as one __param_<name> label, so it may have one value only; use discovery = \"static\" for multi-valued params.";
        }) t.exporters
        ++ lib.mapAttrsToList (name: e: {
          assertion = tlsConfig e != { } -> e.scheme == "https";
          message = "${opt}.exporters.${lib.strings.escapeNixIdentifier name}.tls is set but scheme is \"${e.scheme}\": TLS settings apply to scheme = \"https\" only; set it or remove tls.";
        }) t.exporters
      ) targetList
      ++ map (
        job:
        let
          shapes = lib.unique (map (u: jobShape u.e) (usesOf job));
        in
        {
          assertion = lib.length shapes == 1;
          message = "services.sshscrape.targets.<name>.exporters.${job}: exporters named \"${job}\" form one Prometheus job, so they must agree on scheme, metricsPath, params, scrapeInterval, scrapeTimeout and tls (found ${toString (lib.length shapes)} variants); rename one of them.";
        }
      ) jobNames;

    # nixpkgs' pattern: the default account is created here; any other must already exist, so that
    # `user = "prometheus"` does not define a second, conflicting users.users.prometheus.
    users.users = lib.mkIf (cfg.user == "sshscrape") {
      sshscrape = {
        isSystemUser = true;
        inherit (cfg) group;
        # passwdEntry: no ":" (it would split /etc/passwd's fields). The same text in both modules, so a
        # host that is monitoring host and target at once defines the account once.
        description = "sshscrape, Prometheus scrapes over SSH";
      };
    };
    users.groups = lib.mkIf (cfg.group == "sshscrape") { sshscrape = { }; };

    services.openssh.knownHosts = mkIf viaKnownHosts (lib.listToAttrs knownHostEntries);

    services.prometheus.scrapeConfigs =
      lib.optionals cfg.scrapeConfigs.enable (map scrapeConfig jobNames)
      ++ lib.optional cfg.alertRules.enable (
        {
          job_name = "sshscrape";
          static_configs = [ { targets = [ (lib.removePrefix "http://" proxyUrl) ]; } ];
        }
        # /metrics is behind proxy.auth when that is set (Authorization: Basic); Prometheus reads the file.
        // lib.optionalAttrs (merged.proxy.auth or null != null) {
          basic_auth = {
            inherit (merged.proxy.auth) username;
            password_file = merged.proxy.auth.passwordFile;
          };
        }
      );
    services.prometheus.ruleFiles = mkIf cfg.alertRules.enable [ cfg.alertRules.file ];

    systemd.services.${unitName} = {
      description = "sshscrape: Prometheus forward proxy over SSH";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # Prometheus starts once the proxy is ready (ExecStartPost), so its first scrapes find their SSH
      # connections open. Ordering only: no effect where prometheus.service does not exist.
      before = [ "prometheus.service" ];
      # A changed known_hosts needs no restart: the proxy re-reads it on SIGHUP without dropping connections.
      # The file the proxy reads (knownHostsFile), when NixOS writes it under /etc.
      reloadTriggers = knownHostsSource;
      serviceConfig = {
        Type = "exec";
        User = cfg.user;
        Group = cfg.group;
        # systemd.service(5) "Command lines": systemd expands % specifiers and $VAR even inside quotes, so
        # every argument goes through NixOS' systemd-aware quoting; the key is named by its literal path.
        ExecStart = execArgs (
          [
            (lib.getExe cfg.package)
            "proxy"
            "--config"
            "${configFile}"
          ]
          ++ cfg.extraArgs
          ++ [
            "--key-file"
            "${credentialsDir}/ssh-key"
          ]
        );
        # Started = ready: /readyz answers 200 once the proxy has tried every configured host
        # (preconnect), or gave up waiting (60 s + 50 ms per host, 240 s at the latest). "-": a slow start must not
        # fail the unit, and --retry-max-time keeps curl inside TimeoutStartSec, which "-" does not cover.
        ExecStartPost = "-" + execArgs [
          "${pkgs.curl}/bin/curl"
          "--silent"
          "--show-error"
          "--fail"
          "--retry"
          (toString readyWaitSeconds)
          "--retry-delay"
          "1"
          "--retry-max-time"
          (toString readyWaitSeconds)
          "--retry-all-errors"
          "--max-time"
          "2"
          "--output"
          "/dev/null"
          "${proxyUrl}/readyz"
        ];
        TimeoutStartSec = "${toString (readyWaitSeconds + 20)}s";
        # glibc's malloc keeps up to 8 arenas per core for V8's and libuv's threads; two hold ~1 MB less of an
        # idle proxy resident, at no measurable CPU per scrape (docs/benchmarks.md, "Start-up memory").
        # With its default 128 KB trim threshold glibc hands the top of its heap back after each scavenge frees
        # a batch of read buffers and faults it in again on the next reads: some proxy processes settled at
        # 3-14 page faults and up to 1.3x the CPU per scrape. A 16 MB threshold and 4 MB of top padding keep
        # that memory (docs/benchmarks.md, "Page faults per scrape"). scripts/bench-scale-lab.ts PROXY_UNIT_ENV
        # is this list; test/nix/module.test.ts holds them equal.
        Environment = [
          "MALLOC_ARENA_MAX=2"
          "MALLOC_TRIM_THRESHOLD_=16777216"
          "MALLOC_TOP_PAD_=4194304"
        ];
        # $MAINPID is the one value systemd must expand here (systemd.service(5) ExecReload=).
        ExecReload = "${execArgs [ "${pkgs.coreutils}/bin/kill" ]} -HUP $MAINPID";
        LoadCredential = [
          "ssh-key:${cfg.ssh.keyFile}"
        ]
        ++ map (f: "${credentialId f}:${f}") targetKeyFiles
        ++ lib.mapAttrsToList (id: f: "${id}:${f}") secretFiles;
        Restart = "on-failure";
        RestartSec = "5s";
        WorkingDirectory = "/tmp";

        # Hardening: nixpkgs' Prometheus exporters' set, relaxed where noted.
        CapabilityBoundingSet = [ "" ];
        DeviceAllow = [ "" ];
        LockPersonality = true;
        MemoryDenyWriteExecute = false; # V8's JIT needs writable+executable pages
        NoNewPrivileges = true;
        PrivateDevices = true;
        PrivateTmp = true;
        PrivateUsers = true;
        PrivateIPC = true;
        PrivateMounts = true;
        ProcSubset = "pid";
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHome = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        ProtectSystem = "strict";
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX" # nscd (NixOS' NSS) for resolving target host names
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        # The common nixpkgs filter (zigbee2mqtt, also Node.js, uses it): the system-service set minus
        # privileged and resource-control calls.
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
        SystemCallErrorNumber = "EPERM";
        UMask = "0077";
      };
    };
  };
}
