/** The head a ResponseReader (src/proxy/response-reader.ts) reads from `bytes` (latin1), if it completes one. */
import { type ResponseHead, ResponseReader } from "../../src/proxy/response-reader.js";

export function readHead(bytes: string): ResponseHead | undefined {
  let seen: ResponseHead | undefined;
  const reader = new ResponseReader(
    {
      head: (h) => {
        seen = h;
        return true;
      },
      body: () => true,
    },
    false,
  );
  reader.push(Buffer.from(bytes, "latin1"));
  return seen;
}
