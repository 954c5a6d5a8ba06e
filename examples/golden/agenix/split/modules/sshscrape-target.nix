# services.sshscrape-target: a scraped server (or a jump host in front of one). Accounts whose only power
# is port forwarding to listed destinations, enforced twice: by authorized_keys options and by an sshd
# Match block. `user`/`authorizedKeys`/`exporterPorts` is the usual one-account form; `accounts` says the
# same for any number of accounts and keys (what `sshscrape generate --remote` writes).
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
  bracketed = a: if lib.hasInfix ":" a then "[${a}]" else a;
  hostPort = port: "${bracketed cfg.remoteAddress}:${toString port}";

  ports = lib.unique (cfg.exporterPorts ++ lib.optional cfg.nodeExporter.enable nodeExporter.port);

  # sshd(8) AUTHORIZED_KEYS FILE FORMAT: `restrict` turns off everything (forwarding, pty, agent, X11,
  # user rc), `port-forwarding` turns local forwarding back on, and `permitopen` limits it to these
  # host:port strings, compared literally with the proxy's direct-tcpip request.
  keyLine =
    k:
    lib.concatStringsSep "," (
      [
        "restrict"
        "port-forwarding"
      ]
      ++ map (o: ''permitopen="${o}"'') k.permitOpen
    )
    + " ${k.publicKey}";

  keyModule = {
    options = {
      publicKey = mkOption {
        type = types.str;
        example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… sshscrape@monitoring";
        description = "Public key of the monitoring host's sshscrape proxy.";
      };
      permitOpen = mkOption {
        type = types.listOf types.str;
        example = [
          "127.0.0.1:9100"
          "[::1]:9558"
        ];
        description = ''
          `HOST:PORT` destinations this key may forward to (IPv6 in brackets), exactly as the proxy asks
          for them: sshd compares the strings ("localhost" ≠ "127.0.0.1").
        '';
      };
    };
  };

  accountModule =
    { name, ... }:
    {
      options = {
        createUser = mkOption {
          type = types.bool;
          default = true;
          description = "Create the account: a system user (no shell) with a group of the same name. Off for an account that exists already.";
        };
        keys = mkOption {
          type = types.listOf (types.submodule keyModule);
          default = [ ];
          description = "Keys that may log in as `${name}`, each with what it may forward to.";
        };
      };
    };

  accounts = lib.filterAttrs (_: a: a.keys != [ ]) cfg.accounts;
in
{
  options.services.sshscrape-target = {
    enable = mkEnableOption "SSH accounts that let the sshscrape proxy reach this host's exporters";

    user = mkOption {
      type = types.str;
      default = "sshscrape";
      description = ''
        Account the proxy logs in as; `services.sshscrape.ssh.user` there. Created by this module (a system
        user without a shell, with a group of the same name) only when left at "sshscrape"; any other
        account must exist already and just gets the key.
      '';
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… sshscrape@monitoring" ];
      description = "Public key(s) of the monitoring host's sshscrape proxy, for `user`.";
    };

    exporterPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      example = [
        9100
        9558
      ];
      description = "Exporter ports on `remoteAddress` the keys of `user` may forward to (nothing else).";
    };

    remoteAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = ''
        Host part of each `permitopen`, and the node exporter's listen address. Must be the same string as
        the proxy's `services.sshscrape.ssh.remoteAddress`: sshd compares it literally
        ("localhost" ≠ "127.0.0.1").
      '';
    };

    nodeExporter.enable = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Enable `services.prometheus.exporters.node` bound to `remoteAddress` only, and allow its port.
      '';
    };

    accounts = mkOption {
      type = types.attrsOf (types.submodule accountModule);
      default = { };
      example = lib.literalExpression ''
        {
          scrape.keys = [
            {
              publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… sshscrape@monitoring";
              permitOpen = [ "db.internal:22" ]; # a jump host in front of db.internal
            }
          ];
        }
      '';
      description = "Accounts by name, each with keys and the destinations each key may forward to.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = accounts != { };
        message = "services.sshscrape-target.authorizedKeys is empty: add the public key of the monitoring host's sshscrape proxy.";
      }
      {
        assertion = cfg.authorizedKeys != [ ] || accounts == { } -> ports != [ ];
        message = "services.sshscrape-target.exporterPorts is empty and services.sshscrape-target.nodeExporter.enable is false: nothing could be scraped.";
      }
      {
        assertion = config.services.openssh.enable;
        message = "services.sshscrape-target.enable needs services.openssh.enable = true.";
      }
    ]
    ++ lib.concatLists (
      lib.mapAttrsToList (
        name: a:
        lib.imap0 (i: k: {
          assertion = k.permitOpen != [ ];
          message = "services.sshscrape-target.accounts.${lib.strings.escapeNixIdentifier name}.keys.${toString i}.permitOpen is empty: the key could forward nowhere.";
        }) a.keys
      ) cfg.accounts
    );

    # The one-account form is an account like any other.
    services.sshscrape-target.accounts = mkIf (cfg.authorizedKeys != [ ]) {
      ${cfg.user} = {
        createUser = lib.mkDefault (cfg.user == "sshscrape");
        keys = map (publicKey: {
          inherit publicKey;
          permitOpen = map hostPort ports;
        }) cfg.authorizedKeys;
      };
    };

    users.users = lib.mkMerge (
      lib.mapAttrsToList (
        name: a:
        {
          ${name}.openssh.authorizedKeys.keys = map keyLine a.keys;
        }
        // lib.optionalAttrs a.createUser {
          ${name} = {
            openssh.authorizedKeys.keys = map keyLine a.keys;
            # The default shell of a system user is nologin: forwarding needs no session, and any session ends.
            isSystemUser = true;
            group = name;
            # passwdEntry: no ":" (it would split /etc/passwd's fields). The same text in both modules, so a
            # host that is monitoring host and target at once defines the account once.
            description = "sshscrape, Prometheus scrapes over SSH";
          };
        }
      ) accounts
    );
    users.groups = lib.mapAttrs (_: _: { }) (lib.filterAttrs (_: a: a.createUser) accounts);

    # The exporter listens on `${listenAddress}:${port}`: an IPv6 address needs its brackets there.
    services.prometheus.exporters.node = mkIf cfg.nodeExporter.enable {
      enable = true;
      listenAddress = bracketed cfg.remoteAddress;
    };

    # sshd_config(5) Match: these accounts may forward to their destinations and do nothing else; other
    # users keep the system's settings. Everything after a Match line belongs to it, so the blocks go after
    # every other module's lines: mkAfter, not the definition order of modules.
    services.openssh.extraConfig = lib.mkAfter (
      lib.concatStrings (
        lib.mapAttrsToList (name: a: ''
          Match User ${name}
            AllowTcpForwarding local
            PermitOpen ${lib.concatStringsSep " " (lib.unique (lib.concatMap (k: k.permitOpen) a.keys))}
            AllowAgentForwarding no
            AllowStreamLocalForwarding no
            GatewayPorts no
            PermitTunnel no
            PermitTTY no
            X11Forwarding no
            # Sessions end at once even if the account is later given a real shell (the shell runs this with -c).
            ForceCommand ${pkgs.coreutils}/bin/false
        '') accounts
      )
    );
  };
}
