# nixos/lib/utils.nix, the part NixOS modules use for Exec*= lines (systemd.syntax(7) "Quoting"):
# JSON-quote each argument (a subset of systemd's C-style quoting), then "%" -> "%%" so no specifier is
# expanded and "$" -> "$$" so no environment variable is substituted.
{ lib }:

rec {
  escapeSystemdExecArg =
    arg:
    let
      s =
        if builtins.isPath arg then
          "${arg}"
        else if builtins.isString arg then
          arg
        else if builtins.isInt arg || builtins.isFloat arg || lib.isDerivation arg then
          toString arg
        else
          throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
    in
    builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);

  escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
}
