# One package entry point for the flake's packages, its overlay and the NixOS modules
# (`pkgs.callPackage ./nix/package.nix { }`).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  runCommand,
  nodejs,
  cacert,
}:

let
  packageJson = lib.importJSON ../package.json;

  # Dependencies come from package-lock.json's `integrity` fields; see ./npm-deps.nix for why this is not
  # importNpmLock or npmDepsHash.
  npmDeps = import ./npm-deps.nix { inherit lib runCommand nodejs cacert; } {
    package = packageJson;
    packageLock = lib.importJSON ../package-lock.json;
  };
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;
  inherit nodejs npmDeps;
  npmConfigHook = importNpmLock.npmConfigHook;

  # Only what `npm run build` and `npm pack` read, so editing docs or tests does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../bin
      ../cli
      ../src
      (lib.fileset.maybeMissing ../templates)
      # `generate --modules copy` writes byte-identical copies of these beside its output.
      ./module.nix
      ./target.nix
      # Shipped beside the proxy (package.json "files"): Prometheus rules and the Grafana dashboard.
      ../rules
      ../dashboards
    ];
  };

  # `npm run build`: tsc to dist/ plus the oclif command manifest (buildNpmPackage's default npmBuildScript).
  npmBuildScript = "build";

  # npmConfigHook runs `npm rebuild` after installing; skip install scripts there. The only packages with
  # scripts are ssh2 (an optional native crypto binding) and its optional dependency cpu-features (node-gyp),
  # plus esbuild (a dev tool, unused by the build). Without them ssh2 uses Node's own crypto and works fully,
  # and the build needs no compiler and no network.
  npmRebuildFlags = [ "--ignore-scripts" ];

  passthru = {
    inherit npmDeps;
  };

  meta = {
    description = "Scrape Prometheus exporters over SSH: an HTTP forward proxy over pooled SSH connections, plus a NixOS configuration generator";
    license = lib.licenses.mit;
    mainProgram = "sshscrape";
    platforms = nodejs.meta.platforms;
  };
}
