# Stub `config`: the parts of the NixOS fixpoint a generated module reads, computed from the module's own
# definitions the way sops-nix, agenix and programs.ssh default them.
{ result }:
{
  sops.secrets = builtins.mapAttrs (n: v: { path = "/run/secrets/${n}"; } // v) (result.sops.secrets or { });
  age.secrets = builtins.mapAttrs (n: v: { path = "/run/agenix/${n}"; } // v) (result.age.secrets or { });
  environment.etc."ssh/ssh_known_hosts".source = "/etc/static/ssh/ssh_known_hosts";
}
