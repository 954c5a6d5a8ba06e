# Stub of nixpkgs' lib.nixosSystem: the stub module system over ./options.nix plus the given modules.
{
  lib,
  system ? "x86_64-linux",
  modules,
  specialArgs ? { },
}:

let
  pkgs = import ../pkgs.nix { inherit system lib; };
  eval = lib.evalModules {
    modules = [ ./options.nix ] ++ modules;
    specialArgs = {
      inherit pkgs;
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
