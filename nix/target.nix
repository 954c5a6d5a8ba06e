# services.sshscrape-target: a scraped server. A system user whose only power is port forwarding to the
# listed exporter ports, enforced twice: by authorized_keys options and by an sshd Match block.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.sshscrape-target;

  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  nodeExporter = config.services.prometheus.exporters.node;

  # sshd_config(5) PermitOpen and authorized_keys permitopen: IPv6 addresses in square brackets.
  hostPort =
    port:
    if lib.hasInfix ":" cfg.remoteAddress then
      "[${cfg.remoteAddress}]:${toString port}"
    else
      "${cfg.remoteAddress}:${toString port}";

  ports = lib.unique (cfg.exporterPorts ++ lib.optional cfg.nodeExporter.enable nodeExporter.port);

  # sshd(8) AUTHORIZED_KEYS FILE FORMAT: `restrict` turns off everything (forwarding, pty, agent, X11,
  # user rc), `port-forwarding` turns local forwarding back on, and `permitopen` limits it to these
  # host:port strings, compared literally with the proxy's direct-tcpip request.
  permitopen = lib.concatMapStringsSep "," (p: ''permitopen="${hostPort p}"'') ports;
  keyLine = key: "restrict,port-forwarding,${permitopen} ${key}";
in
{
  options.services.sshscrape-target = {
    enable = mkEnableOption "an SSH account that lets the sshscrape proxy reach this host's exporters";

    user = mkOption {
      type = types.str;
      default = "sshscrape";
      description = "System user (no shell, group of the same name) the proxy logs in as; `services.sshscrape.ssh.user` there.";
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… sshscrape@monitoring" ];
      description = "Public key(s) of the monitoring host's sshscrape proxy.";
    };

    exporterPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      example = [
        9100
        9558
      ];
      description = "Exporter ports on `remoteAddress` the keys may forward to (nothing else).";
    };

    remoteAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = ''
        Host part of each `permitopen`. Must be the same string as the proxy's
        `services.sshscrape.ssh.remoteAddress`: sshd compares it literally ("localhost" ≠ "127.0.0.1").
      '';
    };

    nodeExporter.enable = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Enable `services.prometheus.exporters.node` bound to `remoteAddress` only, and allow its port.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.authorizedKeys != [ ];
        message = "services.sshscrape-target.authorizedKeys is empty: add the public key of the monitoring host's sshscrape proxy.";
      }
      {
        assertion = ports != [ ];
        message = "services.sshscrape-target.exporterPorts is empty and services.sshscrape-target.nodeExporter.enable is false: nothing could be scraped.";
      }
      {
        assertion = config.services.openssh.enable;
        message = "services.sshscrape-target.enable needs services.openssh.enable = true.";
      }
    ];

    # The key goes to whichever account `user` names; the account itself is created here only when left at
    # "sshscrape" (nixpkgs' pattern), so an existing user is not defined twice.
    users.users = lib.mkMerge [
      { ${cfg.user}.openssh.authorizedKeys.keys = map keyLine cfg.authorizedKeys; }
      (mkIf (cfg.user == "sshscrape") {
        sshscrape = {
          # The default shell of a system user is nologin: forwarding needs no session, and any session ends.
          isSystemUser = true;
          group = "sshscrape";
          # passwdEntry: no ":" (it would split /etc/passwd's fields). The same text in both modules, so a
          # host that is monitoring host and target at once defines the account once.
          description = "sshscrape, Prometheus scrapes over SSH";
        };
      })
    ];
    users.groups = mkIf (cfg.user == "sshscrape") { sshscrape = { }; };

    # The exporter listens on `${listenAddress}:${port}`: an IPv6 address needs its brackets there.
    services.prometheus.exporters.node = mkIf cfg.nodeExporter.enable {
      enable = true;
      listenAddress = if lib.hasInfix ":" cfg.remoteAddress then "[${cfg.remoteAddress}]" else cfg.remoteAddress;
    };

    # sshd_config(5) Match: this user may forward to the exporters and do nothing else; other users keep
    # the system's settings. Everything after a Match line belongs to it (sshd_config(5)), so it goes after
    # every other module's lines: mkAfter, not the definition order of modules.
    services.openssh.extraConfig = lib.mkAfter ''
      Match User ${cfg.user}
        AllowTcpForwarding local
        PermitOpen ${lib.concatMapStringsSep " " hostPort ports}
        AllowAgentForwarding no
        AllowStreamLocalForwarding no
        GatewayPorts no
        PermitTunnel no
        PermitTTY no
        X11Forwarding no
        # Sessions end at once even if the account is later given a real shell (the shell runs this with -c).
        ForceCommand ${pkgs.coreutils}/bin/false
    '';
  };
}
