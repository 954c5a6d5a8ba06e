import { configJsonSchema } from "../../src/config/schema.js";
import { SshscrapeCommand } from "../base.js";

export default class Schema extends SshscrapeCommand {
  static override summary = "Print the JSON Schema of the target list.";
  static override description =
    "The schema is derived from the validator sshscrape itself uses, so editors (VS Code's YAML extension, " +
    "`# yaml-language-server: $schema=…`) flag the same mistakes `sshscrape generate` would.";
  static override examples = [
    {
      command: "<%= config.bin %> schema > sshscrape.schema.json",
      description: "Save the schema for your editor.",
    },
  ];
  static override enableJsonFlag = true;

  async run(): Promise<Record<string, unknown>> {
    await this.parse(Schema);
    const schema = configJsonSchema();
    if (!this.jsonEnabled()) this.log(JSON.stringify(schema, null, 2));
    return schema;
  }
}
