# Evaluates a generated file with stub module arguments, to JSON (see README.md).
#   file: the generated .nix (a module, a default.nix importing modules, or remote.nix with `host`)
{
  file,
  host ? null,
}:
let
  lib = import ./lib.nix;
  pkgs = import ./pkgs.nix;
  imported = import file;
  selected = if host == null then imported else imported.${host};
  call = m: if builtins.isFunction m then m args else m;
  args = {
    inherit config pkgs lib;
  };
  top = call selected;
  # default.nix from --split: merge what its imports define (they define disjoint options).
  result =
    if top ? imports then
      builtins.foldl' lib.recursiveUpdate { } (map (p: call (import p)) top.imports)
    else
      top;
  config = import ./config.nix { inherit result; };
  # Paths become their absolute file names instead of being copied into the store by --json.
  walk =
    v:
    if builtins.isPath v then
      toString v
    else if builtins.isAttrs v then
      builtins.mapAttrs (_: walk) v
    else if builtins.isList v then
      map walk v
    else
      v;
in
walk result
