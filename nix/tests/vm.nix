# Two VMs: `monitoring` runs Prometheus and the sshscrape proxy; `target` exposes only sshd, with
# node_exporter on its loopback and a key restricted to forwarding there. Passes when Prometheus reports
# up == 1 for the target, which it can only reach through the proxy and SSH.
# Keys in ./keys are throwaway test keys, generated for this test and used nowhere else.
{ self }:

let
  oneLine = s: builtins.replaceStrings [ "\n" ] [ "" ] s;
  clientPublicKey = oneLine (builtins.readFile ./keys/client_ed25519.pub);
  targetHostKey = oneLine (builtins.readFile ./keys/host_ed25519.pub);
  ssh = "ssh -o BatchMode=yes -i /etc/sshscrape/id_ed25519";
in
{
  name = "sshscrape";

  nodes = {
    monitoring =
      { pkgs, ... }:
      {
        imports = [ self.nixosModules.default ];

        # Root-only, like a sops-nix or agenix secret: the unit gets it through LoadCredential.
        environment.etc."sshscrape/id_ed25519" = {
          source = ./keys/client_ed25519;
          mode = "0400";
        };

        services.sshscrape = {
          enable = true;
          ssh.keyFile = "/etc/sshscrape/id_ed25519";
          targets.target = {
            hostKeys = [ targetHostKey ];
            exporters.node.port = 9100;
          };
        };

        services.prometheus = {
          enable = true;
          globalConfig.scrape_interval = "2s";
        };

        environment.systemPackages = [
          pkgs.curl
          pkgs.jq
        ];
      };

    target = {
      imports = [ self.nixosModules.target ];

      services.openssh = {
        enable = true;
        # The host key the monitoring node's known_hosts expects (no generated keys to race with).
        hostKeys = [
          {
            path = "/etc/ssh/ssh_host_ed25519_key";
            type = "ed25519";
          }
        ];
      };
      environment.etc."ssh/ssh_host_ed25519_key" = {
        source = ./keys/host_ed25519;
        mode = "0600";
      };

      services.sshscrape-target = {
        enable = true;
        authorizedKeys = [ clientPublicKey ];
        nodeExporter.enable = true;
      };
    };
  };

  testScript = ''
    start_all()

    target.wait_for_unit("sshd.service")
    target.wait_for_unit("prometheus-node-exporter.service")
    target.wait_for_open_port(9100, "127.0.0.1")

    monitoring.wait_for_unit("sshscrape.service")
    monitoring.wait_for_open_port(8888, "127.0.0.1")
    monitoring.wait_for_unit("prometheus.service")
    monitoring.wait_for_open_port(9090)

    with subtest("the exporter is not reachable except through SSH"):
        monitoring.fail("curl -sf --max-time 5 http://target:9100/metrics")

    with subtest("the key forwards to the exporter port and nowhere else"):
        # stdin stays open a moment: an early EOF would half-close the forwarded connection mid-request.
        monitoring.succeed(
            "(printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n'; sleep 3) | ${ssh} -W 127.0.0.1:9100 sshscrape@target"
            " | grep -q '^node_exporter_build_info'"
        )
        monitoring.fail("${ssh} -W 127.0.0.1:22 sshscrape@target < /dev/null")
        monitoring.fail("${ssh} sshscrape@target true")

    with subtest("the proxy serves a scrape as Prometheus sends it"):
        monitoring.succeed(
            "curl -sf --max-time 10 --proxy http://127.0.0.1:8888 http://target:9100/metrics"
            " | grep -q '^node_exporter_build_info'"
        )

    with subtest("Prometheus scrapes the target through sshscrape: up == 1"):
        monitoring.wait_until_succeeds(
            "curl -sf --get --data-urlencode 'query=up{job=\"sshscrape-node\",instance=\"target:9100\"}'"
            " http://127.0.0.1:9090/api/v1/query"
            " | jq -e '.data.result | length == 1 and .[0].value[1] == \"1\"'",
            timeout=120,
        )

    with subtest("reload (SIGHUP, as on a known_hosts change) keeps the proxy serving"):
        monitoring.succeed("systemctl reload sshscrape.service")
        monitoring.succeed("systemctl is-active sshscrape.service")
        monitoring.succeed(
            "curl -sf --max-time 10 --proxy http://127.0.0.1:8888 http://target:9100/metrics"
            " | grep -q '^node_exporter_build_info'"
        )
  '';
}
