#!/usr/bin/env node
// The broker is written in TypeScript and run through tsx, so the CLI needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../broker/cli.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
