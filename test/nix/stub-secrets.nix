# sops-nix (modules/sops/default.nix) and agenix (modules/age.nix) as the generated files and their users
# see them: the `sops.secrets.<n>` / `age.secrets.<n>` options with their types and default paths, and
# sops-nix's validateSopsFiles assertions (the encrypted file exists and is a path, so it is copied into the
# store). Decryption, key sources and activation are not reproduced.
{ config, lib, ... }:

let
  inherit (lib) mkOption types;
  opt =
    type: default:
    mkOption {
      inherit type default;
    };
  sops = config.sops;
in
{
  options.sops = {
    defaultSopsFile = opt (types.nullOr types.path) null;
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

  config.assertions = lib.optionals sops.validateSopsFiles (
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
