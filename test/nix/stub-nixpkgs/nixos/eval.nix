# Stub of nixpkgs' lib.nixosSystem: lib.evalModules over ./options.nix plus the given modules, with the
# module arguments NixOS gives every module (`pkgs`, `utils`, `modulesPath`). Works with this directory's
# lib.nix and with a real nixpkgs lib.
{
  lib,
  system ? "x86_64-linux",
  modules,
  specialArgs ? { },
  pkgs ? import ../pkgs.nix { inherit system lib; },
}:

let
  eval = lib.evalModules {
    modules = [ ./options.nix ] ++ modules;
    specialArgs = {
      inherit pkgs;
      utils = import ./utils.nix { inherit lib; };
      modulesPath = ./.;
    }
    // specialArgs;
  };
in
eval
// {
  inherit pkgs;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) eval.config.assertions);
}
