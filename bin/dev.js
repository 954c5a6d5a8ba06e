#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build). Needs the dev dependencies.
import { execute } from "@oclif/core";

await execute({ development: true, dir: import.meta.url });
