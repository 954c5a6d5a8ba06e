# sops-nix (modules/sops/default.nix) and agenix (modules/age.nix) as the generated files and their users
# see them: the `sops.secrets.<n>` / `age.secrets.<n>` options with their types and default paths; sops-nix's
# assertions that some key source is configured (by default the host's SSH keys when sshd is enabled) and
# validateSopsFiles (the encrypted file exists and is a path, so it is copied into the store); agenix's
# assertion that `age.identityPaths` is not empty (by default the host's SSH keys likewise). Decryption and
# activation are not reproduced.
{ config, lib, ... }:

let
  inherit (lib) mkOption types;
  opt =
    type: default:
    mkOption {
      inherit type default;
    };
  sops = config.sops;
  sshKeys =
    type:
    if config.services.openssh.enable then
      map (k: k.path) (builtins.filter (k: k.type == type) config.services.openssh.hostKeys)
    else
      [ ];
in
{
  options.sops = {
    defaultSopsFile = opt (types.nullOr types.path) null;
    age.keyFile = opt (types.nullOr types.path) null;
    age.sshKeyPaths = opt (types.listOf types.path) (sshKeys "ed25519");
    gnupg.home = opt (types.nullOr types.str) null;
    gnupg.sshKeyPaths = opt (types.listOf types.path) (sshKeys "rsa");
    validateSopsFiles = opt types.bool true;
    secrets = opt (types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            name = opt types.str name;
            key = opt types.str name;
            path = opt types.str "/run/secrets/${name}";
            format = opt (types.enum [
              "yaml"
              "json"
              "binary"
              "dotenv"
              "ini"
            ]) "yaml";
            mode = opt types.str "0400";
            owner = opt (types.nullOr types.str) null;
            uid = opt types.int 0;
            group = opt (types.nullOr types.str) null;
            gid = opt types.int 0;
            sopsFile = mkOption (
              { type = types.path; }
              // lib.optionalAttrs (sops.defaultSopsFile != null) { default = sops.defaultSopsFile; }
            );
            restartUnits = opt (types.listOf types.str) [ ];
            reloadUnits = opt (types.listOf types.str) [ ];
            neededForUsers = opt types.bool false;
          };
        }
      )
    )) { };
  };

  options.age.identityPaths = opt (types.listOf types.path) (sshKeys "ed25519" ++ sshKeys "rsa");

  options.age.secrets = opt (types.attrsOf (
    types.submodule (
      { name, ... }:
      {
        options = {
          name = opt types.str name;
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

  config.assertions =
    lib.optional (sops.secrets != { }) {
      assertion =
        sops.gnupg.home != null || sops.gnupg.sshKeyPaths != [ ] || sops.age.keyFile != null || sops.age.sshKeyPaths != [ ];
      message = "No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home";
    }
    ++ lib.optional (config.age.secrets != { }) {
      assertion = config.age.identityPaths != [ ];
      message = "age.identityPaths must be set, for example by enabling openssh.";
    }
    ++ lib.optionals (sops.secrets != { } && sops.validateSopsFiles) (
    lib.concatLists (
      lib.mapAttrsToList (name: s: [
        {
          assertion = builtins.pathExists s.sopsFile;
          message = "Cannot find path '${toString s.sopsFile}' set in sops.secrets.${lib.strings.escapeNixIdentifier name}.sopsFile";
        }
        {
          assertion = builtins.isPath s.sopsFile || lib.hasPrefix builtins.storeDir s.sopsFile;
          message = "'${toString s.sopsFile}' is not in the Nix store. Either add it to the Nix store or set sops.validateSopsFiles to false";
        }
      ]) sops.secrets
    )
  );
}
