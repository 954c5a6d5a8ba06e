# Stub pkgs: store-path-looking strings for packages; writeText really writes (builtins.toFile) so tests
# can read the file a generated unit passes to the proxy.
{
  sshscrape = "/nix/store/00000000000000000000000000000000-sshscrape-stub";
  coreutils = "/nix/store/11111111111111111111111111111111-coreutils-stub";
  # Debian's curl (/usr/bin/curl), so a test can run the unit's ExecStartPost as it is.
  curl = "/usr";
  writeText = name: text: builtins.toFile name text;
}
