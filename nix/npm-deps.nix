# The npm dependencies of a package-lock.json (v2/v3) as Nix store paths, without `resolved` URLs and
# without npmDepsHash.
#
# Why not nixpkgs' importNpmLock or fetchNpmDeps: both read each entry's `resolved` URL, and our lockfile
# has none (npm omits it; we also keep registry host names out of the repository). What every entry does
# have is `integrity` (an SRI sha512 of the registry tarball), and `npm pack NAME@VERSION` returns that
# exact tarball byte for byte. So each entry becomes a fixed-output derivation whose outputHash IS the
# lock's integrity: Nix itself rejects any tarball that differs, and npm uses its own default registry (or
# the user's npmrc via impure env vars), so no host appears here.
#
# The result mirrors importNpmLock's output (a directory with package.json and package-lock.json whose
# `resolved` fields are `file:/nix/store/…` tarballs), so it plugs into `importNpmLock.npmConfigHook`.
{
  lib,
  runCommand,
  nodejs,
  cacert,
}:

{
  package,
  packageLock,
}:

let
  inherit (builtins) toJSON;

  # "node_modules/a/node_modules/@s/b" -> "@s/b"; aliased entries carry their real `name`.
  nameOf =
    path: entry:
    entry.name or (lib.last (lib.splitString "node_modules/" path));

  # Store path names allow [A-Za-z0-9+._?=-]; npm names add "@" and "/".
  storeName = s: builtins.replaceStrings [ "@" "/" ] [ "" "-" ] s;

  fetchEntry =
    path: entry:
    let
      name = nameOf path entry;
    in
    if !(entry ? version && entry ? integrity) then
      throw "nix/npm-deps.nix: package-lock.json entry \"${path}\" has no version or integrity; run `npm install --package-lock-only` with npm >= 7"
    else
      runCommand "${storeName name}-${entry.version}.tgz"
        {
          nativeBuildInputs = [ nodejs ];
          pkgSpec = "${name}@${entry.version}";
          # Fixed-output: network access is allowed and the result must hash to the lock's integrity.
          outputHash = entry.integrity;
          outputHashMode = "flat";
          # Node uses its built-in roots unless told otherwise; both variables point it at nixpkgs' bundle.
          SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
          NODE_EXTRA_CA_CERTS = "${cacert}/etc/ssl/certs/ca-bundle.crt";
          # Lets users point npm at a mirror or proxy from their environment (npm reads npm_config_*).
          impureEnvVars = lib.fetchers.proxyImpureEnvVars ++ [
            "NPM_CONFIG_REGISTRY"
            "npm_config_registry"
          ];
        }
        ''
          export HOME="$PWD/home"
          mkdir -p "$HOME" pack
          npm pack --silent --ignore-scripts --pack-destination pack "$pkgSpec" >/dev/null
          mv pack/*.tgz "$out"
        '';

  # The root entry ("") is the project itself; `link` entries are workspace symlinks and `inBundle` entries
  # ship inside their parent's tarball: neither has anything to fetch.
  fetchable = lib.filterAttrs (
    path: entry: path != "" && !(entry.link or false) && !(entry.inBundle or false)
  ) packageLock.packages;

  tarballs = lib.mapAttrs fetchEntry fetchable;

  packageLock' = packageLock // {
    packages = lib.mapAttrs (
      path: entry:
      if tarballs ? ${path} then
        builtins.removeAttrs entry [ "funding" ] // { resolved = "file:${tarballs.${path}}"; }
      else
        entry
    ) packageLock.packages;
  };

  # As importNpmLock does: direct dependencies in package.json point at the same tarballs, so npm finds
  # package.json and the lockfile in agreement and never asks a registry.
  pinDirect = lib.mapAttrs (name: _: packageLock'.packages."node_modules/${name}".resolved);
  package' =
    package
    // lib.optionalAttrs (package ? dependencies) { dependencies = pinDirect package.dependencies; }
    // lib.optionalAttrs (package ? devDependencies) { devDependencies = pinDirect package.devDependencies; };
in
runCommand "${package.name}-${package.version}-npm-deps"
  {
    # `tarballs.<lock path>` lets a test or a user build single dependencies.
    passthru = { inherit tarballs; };
    passAsFile = [
      "packageJson"
      "packageLockJson"
    ];
    packageJson = toJSON package';
    packageLockJson = toJSON packageLock';
  }
  ''
    mkdir "$out"
    cp "$packageJsonPath" "$out/package.json"
    cp "$packageLockJsonPath" "$out/package-lock.json"
  ''
