{
  description = "sshscrape: scrape Prometheus exporters on hosts that expose nothing but SSH";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      systems = linuxSystems ++ [
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forSystems = list: f: lib.genAttrs list (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forSystems systems (
        pkgs:
        let
          sshscrape = pkgs.callPackage ./nix/package.nix { };
        in
        {
          default = sshscrape;
          inherit sshscrape;
        }
      );

      overlays.default = final: _prev: {
        sshscrape = final.callPackage ./nix/package.nix { };
      };

      # System-independent: the modules build the package with the consumer's own pkgs. Each is the file
      # behind `imports` rather than the bare path: the module system treats both alike (same key, option
      # locations, disabledModules), but `nix flake check` before Nix 2.13 rejects path-valued modules
      # (NixOS/nix#6866) and CI runs Nix 2.8.
      nixosModules = {
        default = self.nixosModules.sshscrape;
        sshscrape.imports = [ ./nix/module.nix ];
        target.imports = [ ./nix/target.nix ];
      };

      apps = forSystems systems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          meta.description = "Run the sshscrape CLI";
        };
      });

      devShells = forSystems systems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs
            pkgs.openssh
            pkgs.prometheus
            pkgs.nixfmt-tree
          ];
        };
      });

      formatter = forSystems systems (pkgs: pkgs.nixfmt-tree);

      checks =
        forSystems linuxSystems (pkgs: {
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          # Two VMs: Prometheus scrapes node_exporter on the target through sshscrape and SSH only.
          vm = pkgs.testers.runNixOSTest (import ./nix/tests/vm.nix { inherit self; });
        })
        // forSystems (lib.subtractLists linuxSystems systems) (pkgs: {
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        });
    };
}
