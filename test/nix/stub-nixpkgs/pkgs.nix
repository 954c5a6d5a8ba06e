# Stand-in for nixpkgs' package set (see README.md). Builders produce raw `derivation`s with a /bin/sh
# builder; tools that Debian provides on the CI machines are "host packages" whose outPath is the host
# prefix (/usr), so `${pkgs.nodejs}/bin/npm` is /usr/bin/npm. Nothing here can build sshscrape itself.
{ system, lib }:

let
  inherit (builtins) isPath removeAttrs;

  allSystems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
  ];

  hostPackage = name: mainProgram: {
    type = "derivation";
    inherit name;
    outPath = "/usr";
    meta = {
      inherit mainProgram;
      platforms = allSystems;
    };
  };

  # stdenv.mkDerivation's shape: passthru and meta stay out of the derivation's environment.
  mkDerivation =
    {
      name,
      buildCommand ? "echo 'stub nixpkgs: ${name} cannot be built here' >&2; exit 1",
      nativeBuildInputs ? [ ],
      passthru ? { },
      meta ? { },
      ...
    }@args:
    let
      env = removeAttrs args [
        "passthru"
        "meta"
        "nativeBuildInputs"
        "buildCommand"
      ];
      drv = derivation (
        env
        // {
          inherit name system buildCommand;
          builder = "/bin/sh";
          PATH = lib.concatStringsSep ":" (map (p: "${p}/bin") nativeBuildInputs ++ [
            "/usr/bin"
            "/bin"
          ]);
          args = [
            "-c"
            "set -eu; eval \"$buildCommand\""
          ];
        }
      );
    in
    drv // passthru // { inherit meta passthru; };

  pkgs = {
    inherit lib system;
    stdenv = {
      hostPlatform = {
        inherit system;
        isLinux = lib.hasInfix "linux" system;
      };
      inherit mkDerivation;
    };

    callPackage =
      fn: args:
      let
        f = if isPath fn then import fn else fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);

    runCommand =
      name: env: buildCommand:
      mkDerivation (env // { inherit name buildCommand; });

    writeText = name: text: builtins.toFile name text;

    # buildNpmPackage: checks the arguments sshscrape relies on and keeps them inspectable; `npmDeps` is
    # forced, so every dependency's fixed-output derivation is instantiated during evaluation.
    buildNpmPackage =
      {
        pname,
        version,
        src,
        npmDeps,
        meta,
        ...
      }@args:
      assert lib.assertMsg (!(args ? npmDepsHash)) "stub buildNpmPackage: npmDepsHash must not be used";
      assert lib.assertMsg (meta ? mainProgram && meta ? description && meta ? license) "stub buildNpmPackage: meta needs description, license, mainProgram";
      mkDerivation (
        removeAttrs args [
          "pname"
          "version"
          "nodejs"
        ]
        // {
          name = "${pname}-${version}";
          inherit src npmDeps;
          nodejs = "${args.nodejs}";
          passthru = (args.passthru or { }) // {
            inherit npmDeps;
          };
        }
      );

    importNpmLock.npmConfigHook = mkDerivation { name = "npm-config-hook-stub"; };

    # Debian's tools stand in for nixpkgs' (same program names).
    nodejs = hostPackage "nodejs" "node";
    coreutils = hostPackage "coreutils" "ls";
    openssh = hostPackage "openssh" "ssh";
    prometheus = hostPackage "prometheus" "prometheus";
    prometheus-node-exporter = hostPackage "prometheus-node-exporter" "prometheus-node-exporter";
    curl = hostPackage "curl" "curl";
    jq = hostPackage "jq" "jq";
    # Only named as a build input (node-gyp for ssh2's binding); the stub never builds the package.
    python3 = hostPackage "python3" "python3";
    nixfmt-tree = mkDerivation { name = "nixfmt-tree-stub"; } // {
      meta.mainProgram = "treefmt";
    };

    # nixpkgs' cacert layout, pointing at Debian's bundle (no network needed to build it).
    cacert = mkDerivation {
      name = "cacert-host";
      buildCommand = ''
        mkdir -p "$out/etc/ssl/certs"
        ln -s /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-bundle.crt"
      '';
    };

    mkShell =
      {
        packages ? [ ],
        ...
      }@args:
      mkDerivation (removeAttrs args [ "packages" ] // { name = args.name or "nix-shell"; nativeBuildInputs = packages; });

    # pkgs/pkgs-lib/formats.nix json: a JSON value; attribute sets merge recursively, lists concatenate.
    formats.json = _: {
      type =
        let
          valueType =
            lib.types.nullOr (
              lib.types.oneOf [
                lib.types.bool
                lib.types.int
                lib.types.float
                lib.types.str
                lib.types.path
                (lib.types.attrsOf valueType)
                (lib.types.listOf valueType)
              ]
            )
            // {
              description = "JSON value";
            };
        in
        valueType;
      # nixpkgs runs jq in a derivation; the stub writes the same JSON at evaluation time.
      generate = name: value: builtins.toFile name (builtins.toJSON value);
    };

    # Evaluates every node with the stub module system and the NixOS option stubs, fails on assertions,
    # and returns a derivation carrying the test script (it cannot run without nixpkgs and QEMU).
    testers.runNixOSTest =
      test:
      let
        t = if builtins.isFunction test then test { inherit pkgs lib; } else test;
        nodes = lib.mapAttrs (
          name: module:
          lib.nixosSystem {
            inherit system;
            modules = [
              module
              { networking.hostName = lib.mkDefault name; }
            ]
            ++ lib.optional (t ? defaults) t.defaults;
          }
        ) t.nodes;
        script =
          if builtins.isFunction t.testScript then
            t.testScript { nodes = lib.mapAttrs (_: n: n.config) nodes; }
          else
            t.testScript;
      in
      mkDerivation {
        name = "vm-test-run-${t.name}";
        testScript = script;
        nodes = builtins.toJSON (lib.mapAttrs (_: n: n.config.system.build.toplevel) nodes);
      };
  };
in
pkgs
