# One package entry point for the flake's packages, its overlay and the NixOS modules
# (`pkgs.callPackage ./nix/package.nix { }`).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  runCommand,
  nodejs,
  cacert,
  python3,
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

  # npmConfigHook installs with --ignore-scripts, then runs `npm rebuild $npmRebuildFlags`. Rebuild only ssh2:
  # its install script compiles ssh2's optional native crypto binding (AES-GCM and ChaCha20-Poly1305 over
  # OpenSSL) with node-gyp, against the headers the hook points npm_config_nodedir at, offline. Without it ssh2
  # falls back to Node's crypto API per packet, which costs 1.4× the proxy CPU per scrape (docs/benchmarks.md,
  # "The package's crypto path"). If the compile fails, ssh2's script says "Failed to build optional crypto
  # binding" and the package still builds and works, on the fallback. Not rebuilt: cpu-features (ssh2 uses it
  # only to put ChaCha20 first on CPUs without AES instructions) and esbuild (a dev tool the build does not use).
  npmRebuildFlags = [ "ssh2" ];
  nativeBuildInputs = [ python3 ];

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
