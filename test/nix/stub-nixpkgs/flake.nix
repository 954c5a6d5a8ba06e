{
  description = "Hand-written stand-in for nixpkgs, for offline `nix flake check` of sshscrape (see README.md)";

  outputs =
    { self }:
    let
      lib = import ./lib.nix;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ] (system: import ./pkgs.nix { inherit system lib; });
    };
}
