/** `sshscrape init`: the one entry point the command calls. */
import {
  DEFAULT_ANSWERS,
  DEFAULT_KEY_FILE,
  type InitAnswers,
  type InitResult,
  writeStarter,
} from "./init.js";
import { promptAnswers } from "./prompt.js";
import { publicKeyBeside, publicKeyFromFlag } from "./public-key.js";

export { InitExistsError, InitInputError, type InitResult, parseExporter } from "./init.js";

export interface InitRequest {
  file: string;
  force: boolean;
  /** Ask for what the flags leave open (only when stdin and stderr are terminals). */
  interactive: boolean;
  known: Partial<InitAnswers>;
}

export async function runInit(req: InitRequest): Promise<InitResult> {
  const kind = req.known.keyKind ?? DEFAULT_ANSWERS.keyKind;
  const defaults: InitAnswers = { ...DEFAULT_ANSWERS, keyKind: kind, keyFile: DEFAULT_KEY_FILE[kind] };
  const answers = req.interactive ? await promptAnswers(req.known, defaults) : { ...defaults, ...req.known };
  // A line or a .pub path, from the flag or the prompt; else KEY.pub beside a plain key, as ssh-keygen writes it.
  if (answers.publicKey) answers.publicKey = publicKeyFromFlag(answers.publicKey);
  else if (answers.keyKind === "path") {
    const beside = publicKeyBeside(answers.keyFile);
    if (beside) answers.publicKey = beside;
  }
  return writeStarter(req.file, answers, req.force);
}
